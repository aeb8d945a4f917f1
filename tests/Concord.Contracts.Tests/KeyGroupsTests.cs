using System.Text;
using Concord.Contracts;

namespace Concord.Contracts.Tests;

public class KeyGroupsTests
{
    // The hash is part of the contract: these values pin FNV-1a 32 so a change that would move
    // every key between instances fails here first.
    [Theory]
    [InlineData("", 2166136261u)]
    [InlineData("a", 0xe40c292cu)]
    [InlineData("foobar", 0xbf9cf968u)]
    public void Key_group_is_fnv1a_32_of_the_key_modulo_the_group_count(string key, uint fnv)
    {
        Assert.Equal((int)(fnv % 128), KeyGroups.Of(Encoding.UTF8.GetBytes(key)));
        Assert.Equal((int)(fnv % 7), KeyGroups.Of(Encoding.UTF8.GetBytes(key), 7));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(128)]
    public void Ranges_cover_every_key_group_exactly_once_and_differ_in_size_by_at_most_one(int instances)
    {
        var owners = new int[ProtocolLimits.KeyGroupCount];
        var sizes = new List<int>();
        for (var i = 0; i < instances; i++)
        {
            var (start, end) = KeyGroups.RangeOf(i, instances);
            sizes.Add(end - start);
            for (var g = start; g < end; g++)
            {
                owners[g]++;
            }
        }
        Assert.All(owners, count => Assert.Equal(1, count));
        Assert.True(sizes.Max() - sizes.Min() <= 1, $"range sizes {string.Join(",", sizes)}");
    }

    [Fact]
    public void Range_of_an_index_outside_the_instances_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => KeyGroups.RangeOf(2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => KeyGroups.RangeOf(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => KeyGroups.RangeOf(0, ProtocolLimits.KeyGroupCount + 1));
    }
}
