using System.Globalization;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace Concord.EndToEnd.Tests.Dashboard;

/// <summary>
/// A real headless Chromium (Debian's chromium and chromium-driver, scripts/install-chromium.sh)
/// driven through Selenium, with bounded waits and screenshots saved as test artifacts.
/// </summary>
public sealed class Browser : IDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string ChromeDriverPath = "/usr/bin/chromedriver";

    /// <summary>Bound of one WebDriver command (a click, a screenshot), in seconds: chromium on a loaded 2-core machine.</summary>
    public const int CommandTimeoutSeconds = 60;

    /// <summary>Window size, in pixels: wide enough for the graph and the operator panel side by side.</summary>
    public const int WindowWidthPx = 1400;
    public const int WindowHeightPx = 900;

    private readonly ChromeDriver _driver;

    public Browser(string artifacts)
    {
        foreach (var path in new[] { ChromiumPath, ChromeDriverPath })
        {
            if (!File.Exists(path))
            {
                throw new InvalidOperationException(
                    $"{path} is missing: the dashboard's browser test needs Debian's chromium and chromium-driver; run scripts/install-chromium.sh (scripts/setup.sh does)");
            }
        }
        Artifacts = artifacts;
        Directory.CreateDirectory(artifacts);
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            string.Create(CultureInfo.InvariantCulture, $"--window-size={WindowWidthPx},{WindowHeightPx}"));
        // The driver is named explicitly, so Selenium Manager never runs (it would try to download one).
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriverPath)!, Path.GetFileName(ChromeDriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.LogPath = Path.Combine(artifacts, "chromedriver.log");
        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(CommandTimeoutSeconds));
    }

    /// <summary>Where screenshots go.</summary>
    public string Artifacts { get; }

    public IWebDriver Driver => _driver;

    /// <summary>Waits up to <paramref name="timeout"/> for <paramref name="condition"/> to return non-null/true; fails naming <paramref name="what"/>.</summary>
    public T Until<T>(TimeSpan timeout, string what, Func<IWebDriver, T> condition)
    {
        var wait = new WebDriverWait(_driver, timeout)
        {
            Message = $"{what} (waited {timeout.TotalSeconds:0} s; screenshots and page in {Artifacts})",
        };
        // The page updates in place every second; an element between two finds is normal.
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        try
        {
            return wait.Until(condition);
        }
        catch (WebDriverTimeoutException)
        {
            SaveFailure();
            throw;
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for <paramref name="find"/> to return something, and returns it.</summary>
    public T UntilFound<T>(TimeSpan timeout, string what, Func<IWebDriver, T?> find)
        where T : class =>
        Until(timeout, what, find)!;

    /// <summary>Waits for the element with <paramref name="testId"/> to be displayed and returns it.</summary>
    public IWebElement Shown(string testId, TimeSpan timeout, string what) =>
        UntilFound(timeout, what, _ => ByTestId(testId) is { Displayed: true } element ? element : null);

    public IWebElement ByTestId(string testId) => _driver.FindElement(By.CssSelector($"[data-testid='{testId}']"));

    public IReadOnlyCollection<IWebElement> AllByTestId(string testId) => _driver.FindElements(By.CssSelector($"[data-testid='{testId}']"));

    /// <summary>Saves a screenshot as <c>name.png</c> in the artifacts folder and returns its path.</summary>
    public string Screenshot(string name)
    {
        var path = Path.Combine(Artifacts, name + ".png");
        ((ITakesScreenshot)_driver).GetScreenshot().SaveAsFile(path);
        return path;
    }

    /// <summary>What the page showed when a wait ran out: its screenshot and its DOM.</summary>
    public void SaveFailure()
    {
        try
        {
            Screenshot("failure");
            File.WriteAllText(Path.Combine(Artifacts, "failure.html"), _driver.PageSource);
        }
        catch (WebDriverException)
        {
            // The browser itself is gone: the wait's own message says enough.
        }
    }

    public object? Script(string script) => ((IJavaScriptExecutor)_driver).ExecuteScript(script);

    public void Dispose() => _driver.Quit();
}
