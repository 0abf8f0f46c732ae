package wal

// DirectActive reports whether the active segment is written with direct
// I/O. It reads state the commit goroutine owns: call it only while no
// batch is being written.
func (f *File) DirectActive() bool { return f.direct }
