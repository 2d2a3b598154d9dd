package proctree

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"time"
)

// Users names user ids from a passwd file (the host's /etc/passwd): user.name
// and the alerts' process.user.name. The file is read again when its
// modification time or size changes, looked at no more than once per
// recheck interval; at most maxUsers names are kept and lines beyond
// maxPasswdBytes are not read. Processes in containers are named from the
// host's file too (their own user database is not read). Not safe for
// concurrent use: the tracker owns it.
type Users struct {
	path    string
	names   map[uint32]string
	mtime   time.Time
	size    int64
	checked time.Time
	now     func() time.Time
}

const (
	maxUsers       = 65536
	maxPasswdBytes = 16 << 20
	recheck        = time.Second
)

// NewUsers returns a resolver reading path ("" or an unreadable file names nobody).
func NewUsers(path string) *Users {
	return &Users{path: path, names: map[uint32]string{}, now: time.Now}
}

// Name returns the name of uid, "" when the file does not name it.
func (u *Users) Name(uid uint32) string {
	if u == nil || u.path == "" {
		return ""
	}
	if now := u.now(); now.Sub(u.checked) >= recheck {
		u.checked = now
		u.refresh()
	}
	return u.names[uid]
}

func (u *Users) refresh() {
	st, err := os.Stat(u.path)
	if err != nil || !st.Mode().IsRegular() {
		clear(u.names)
		u.mtime, u.size = time.Time{}, 0
		return
	}
	if st.ModTime().Equal(u.mtime) && st.Size() == u.size {
		return
	}
	f, err := os.Open(u.path)
	if err != nil {
		return
	}
	defer f.Close()
	u.mtime, u.size = st.ModTime(), st.Size()
	clear(u.names)
	sc := bufio.NewScanner(&limitedReader{f: f, left: maxPasswdBytes})
	for sc.Scan() && len(u.names) < maxUsers {
		// name:password:uid:gid:gecos:home:shell
		fields := bytes.SplitN(sc.Bytes(), []byte{':'}, 4)
		if len(fields) < 4 || len(fields[0]) == 0 || fields[0][0] == '#' {
			continue
		}
		id, err := strconv.ParseUint(string(fields[2]), 10, 32)
		if err != nil {
			continue
		}
		if _, dup := u.names[uint32(id)]; !dup {
			u.names[uint32(id)] = string(fields[0])
		}
	}
}

type limitedReader struct {
	f    *os.File
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, os.ErrClosed
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.f.Read(p)
	l.left -= int64(n)
	return n, err
}
