package sensor

// MaxArgsBytes is the most argument bytes the kernel side can capture (ARGS_BUF).
// It is defined on every OS: the receiver's configuration validates everywhere.
const MaxArgsBytes = len(processVigilProc{}.Args)
