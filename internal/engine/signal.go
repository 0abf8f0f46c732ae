package engine

import "sync"

// signal is a broadcast: waiters take the current channel, Broadcast closes
// it and installs a fresh one. It lets fetch long-polls and back-pressured
// producers wait with a select on a deadline, which sync.Cond cannot.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) Broadcast() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}
