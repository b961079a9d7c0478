package trim

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mappingRss reads the resident KiB of the mapping that starts at addr from
// /proc/self/smaps.
func mappingRss(t *testing.T, addr uintptr) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	prefix := strconv.FormatUint(uint64(addr), 16) + "-"
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		for _, m := range lines[i+1:] {
			if v, ok := strings.CutPrefix(m, "Rss:"); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				return n
			}
		}
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	return 0
}

// TestPageOutDropsFilePages: PageOut unmaps the read-only file pages a
// process touched (they stay in the page cache), and keeps anonymous memory.
func TestPageOutDropsFilePages(t *testing.T) {
	const size = 1 << 20
	path := filepath.Join(t.TempDir(), "program")
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(file)
	anon, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(anon)
	sum := byte(0)
	for i := 0; i < size; i += 4096 {
		sum += file[i]
		anon[i] = 1
	}
	fileAddr, anonAddr := uintptr(unsafe.Pointer(&file[0])), uintptr(unsafe.Pointer(&anon[0]))
	if rss := mappingRss(t, fileAddr); rss < size/1024/2 {
		t.Fatalf("touched file mapping has only %d KiB resident (sum %d)", rss, sum)
	}
	PageOut()
	if rss := mappingRss(t, fileAddr); rss != 0 {
		t.Errorf("file mapping keeps %d KiB resident after PageOut, want 0", rss)
	}
	if rss := mappingRss(t, anonAddr); rss != size/1024 {
		t.Errorf("anonymous mapping has %d KiB resident after PageOut, want all %d (its data would be lost)", rss, size/1024)
	}
	for i := 0; i < size; i += 4096 {
		if anon[i] != 1 {
			t.Fatalf("anonymous memory lost its data at offset %d", i)
		}
	}
}

// TestPageOutMakesNoGarbage: a trim allocates nothing once its buffers
// exist. kago-monitor collects garbage rarely (a collection keeps the
// collector's metadata resident), so every trim's garbage used to stay.
func TestPageOutMakesNoGarbage(t *testing.T) {
	var p pager
	p.pageOut()
	if len(p.ranges)+len(p.text) == 0 {
		t.Fatal("pageOut found no read-only file mapping of the test binary")
	}
	if n := testing.AllocsPerRun(20, p.pageOut); n != 0 {
		t.Errorf("pageOut allocates %.0f times a trim, want 0", n)
	}
}

func TestProgramRange(t *testing.T) {
	for _, c := range []struct {
		line       string
		start, len uintptr
		exec, ok   bool
	}{
		{"00400000-004b9000 r-xp 00000000 fe:00 10018830   /usr/bin/kago-monitor", 0x400000, 0xb9000, true, true},
		{"7f00-7f10 r--p 00000000 fe:00 42   /tmp/a dir/with spaces", 0x7f00, 0x10, false, true},
		{"005b6000-005c2000 rw-p 001b6000 fe:00 10018830   /usr/bin/kago-monitor", 0, 0, false, false}, // written data
		{"7ff10002e000-7ff100102000 rw-p 00000000 00:00 0 ", 0, 0, false, false},                       // anonymous
		{"7ffe13608000-7ffe13629000 rw-p 00000000 00:00 0   [stack]", 0, 0, false, false},
		{"7fff-7ff0 r--p 00000000 fe:00 42 /x", 0, 0, false, false}, // end before start
		{"zz-10 r--p 00000000 fe:00 42 /x", 0, 0, false, false},
		{"", 0, 0, false, false},
	} {
		start, n, exec, ok := programRange([]byte(c.line))
		if ok != c.ok || start != c.start || n != c.len || exec != c.exec {
			t.Errorf("programRange(%q) = %#x %#x %v %v, want %#x %#x %v %v", c.line, start, n, exec, ok, c.start, c.len, c.exec, c.ok)
		}
	}
}
