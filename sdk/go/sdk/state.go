package concord

import (
	"fmt"
	"sort"

	operatorv1 "concord/gen/concord/operator/v1"
)

// StateError is the panic value of a use of state the protocol forbids (a name not declared
// in Metadata().States, a value over the executor's limit, state in Init). It is a bug in the
// operator and ends the session, even if the callback recovers the panic.
type StateError struct{ msg string }

func (e *StateError) Error() string { return e.msg }

// TimerError is recorded by SetTimerIn for a timer the executor cannot keep (an unknown time
// domain, event time without "event-time.v1"); the batch then fails fatally.
type TimerError struct{ msg string }

func (e *TimerError) Error() string { return e.msg }

// stateVal is a value as callbacks see it; ok is false when the key has none.
type stateVal struct {
	v  []byte
	ok bool
}

// mutation is one (key, name) change made by this SDK; touched tells a change from an unused
// slot (a key's slice has one slot per declared name).
type mutation struct {
	v       []byte
	clear   bool
	touched bool
}

// mutationRef names a changed (key, name) in the order first changed, for BatchDone.
type mutationRef struct {
	key   string
	index int
}

// overlay is the coalesced mutations BatchDone `seq` returned, kept until the executor ships a
// batch whose states include them (state_as_of_seq >= seq).
type overlay struct {
	seq  uint64
	muts map[string][]mutation
}

// keyedState is the state side of a session's batchContext.
type keyedState struct {
	names         []string       // Metadata().States, in declared order
	index         map[string]int // name -> position in names
	maxValueBytes int
	maxInFlight   uint64

	// view is what Get reads, key -> one slot per name: the states shipped with the batch,
	// then the overlays (oldest first), then this batch's own changes.
	view     map[string][]stateVal
	muts     map[string][]mutation // this batch's changes, coalesced per (key, name)
	order    []mutationRef
	overlays []overlay
	inInit   bool
}

func newKeyedState(init *operatorv1.Init, md Metadata) keyedState {
	s := keyedState{
		names:         md.States,
		index:         make(map[string]int, len(md.States)),
		maxValueBytes: int(init.MaxStateValueBytes),
		maxInFlight:   uint64(init.MaxBatchesInFlight),
		view:          map[string][]stateVal{},
		muts:          map[string][]mutation{},
	}
	if s.maxValueBytes <= 0 {
		s.maxValueBytes = StateValueBytesMaxDefault
	}
	for i, n := range md.States {
		s.index[n] = i
	}
	return s
}

// State implements Context.State.
func (c *batchContext) State(name string) State {
	i, ok := c.state.index[name]
	if !ok {
		declared := append([]string(nil), c.state.names...)
		sort.Strings(declared)
		c.statePanic(fmt.Sprintf("state %q is not declared in Metadata().States %q; add it to "+
			"States or use a declared name", name, declared))
	}
	if c.state.inInit {
		c.statePanic(fmt.Sprintf("state %q used in Init: state belongs to a key and Init has "+
			"none in scope; use state in ProcessRecord or ProcessTimer", name))
	}
	return State{c: c, index: i}
}

// statePanic records the error (fatal even if the panic is recovered) and panics with it.
func (c *batchContext) statePanic(msg string) {
	err := &StateError{msg: msg}
	if c.err == nil {
		c.err = err
	}
	panic(err)
}

// Name is the declared state name.
func (s State) Name() string { return s.c.state.names[s.index] }

// Get returns the value last set for the key in scope, and false when it has none. Do not
// modify the returned slice (copy it first); it stays valid after the callback.
func (s State) Get() ([]byte, bool) {
	vals := s.c.state.view[string(s.c.stateKey)]
	if vals == nil {
		return nil, false
	}
	v := vals[s.index]
	return v.v, v.ok
}

// Set sets the value for the key in scope (copied: the caller may reuse its buffer). A value
// over the executor's Init.max_state_value_bytes panics with a *StateError.
func (s State) Set(value []byte) {
	if len(value) > s.c.state.maxValueBytes {
		s.c.statePanic(fmt.Sprintf("state %q: value of %d bytes exceeds the limit of %d bytes "+
			"(Init.max_state_value_bytes); keep large values elsewhere and store a reference",
			s.Name(), len(value), s.c.state.maxValueBytes))
	}
	s.c.changeState(s.index, append([]byte(nil), value...), false)
}

// Clear removes the value of the key in scope (Get returns false afterwards).
func (s State) Clear() { s.c.changeState(s.index, nil, true) }

func (c *batchContext) changeState(index int, value []byte, clear bool) {
	st := &c.state
	key := string(c.stateKey)
	vals := st.view[key]
	if vals == nil {
		vals = make([]stateVal, len(st.names))
		st.view[key] = vals
	}
	vals[index] = stateVal{v: value, ok: !clear}
	muts := st.muts[key]
	if muts == nil {
		muts = make([]mutation, len(st.names))
		st.muts[key] = muts
	}
	if !muts[index].touched {
		st.order = append(st.order, mutationRef{key: key, index: index})
	}
	muts[index] = mutation{v: value, clear: clear, touched: true}
}

// beginBatch builds the view of batch b: its shipped states (as of b.StateAsOfSeq) overlaid
// with the mutations this SDK returned for later batches, newest last.
func (st *keyedState) beginBatch(b *operatorv1.ProcessBatch) *fatalError {
	asOf := b.StateAsOfSeq
	if asOf >= b.Seq {
		return protocolError("batch %d carries state as of batch %d, which is not an earlier "+
			"batch; the executor must set state_as_of_seq below seq", b.Seq, asOf)
	}
	if unapplied := b.Seq - 1 - asOf; st.maxInFlight > 0 && unapplied > st.maxInFlight {
		return protocolError("batch %d carries state as of batch %d: %d earlier batches' state "+
			"mutations are not applied, more than max_batches_in_flight %d; the executor must "+
			"apply BatchDone.state_mutations before it cuts more batches",
			b.Seq, asOf, unapplied, st.maxInFlight)
	}
	kept := st.overlays[:0]
	for _, o := range st.overlays {
		if o.seq > asOf {
			kept = append(kept, o)
		}
	}
	for i := len(kept); i < len(st.overlays); i++ {
		st.overlays[i] = overlay{} // let the dropped maps be collected
	}
	st.overlays = kept

	view := make(map[string][]stateVal, len(b.States))
	for _, ks := range b.States {
		vals := make([]stateVal, len(st.names))
		for _, v := range ks.Values {
			if i, ok := st.index[v.Name]; ok {
				vals[i] = stateVal{v: v.Value, ok: true}
			}
		}
		view[string(ks.Key)] = vals
	}
	for _, o := range st.overlays {
		for key, muts := range o.muts {
			vals := view[key]
			if vals == nil {
				vals = make([]stateVal, len(st.names))
				view[key] = vals
			}
			for i, m := range muts {
				if m.touched {
					vals[i] = stateVal{v: m.v, ok: !m.clear}
				}
			}
		}
	}
	st.view = view
	return nil
}

// takeMutations returns the batch's changes for BatchDone and keeps them as the overlay of
// batch seq.
func (st *keyedState) takeMutations(seq uint64) []*operatorv1.StateMutation {
	if len(st.order) == 0 {
		return nil
	}
	out := make([]*operatorv1.StateMutation, len(st.order))
	for i, ref := range st.order {
		m := st.muts[ref.key][ref.index]
		out[i] = &operatorv1.StateMutation{Key: []byte(ref.key), Name: st.names[ref.index],
			Value: m.v, Clear: m.clear}
	}
	st.overlays = append(st.overlays, overlay{seq: seq, muts: st.muts})
	st.muts = map[string][]mutation{}
	st.order = st.order[:0]
	return out
}
