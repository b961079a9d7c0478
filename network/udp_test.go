package network

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// listenUDPIn opens a UDP socket inside the namespace at path. The socket
// belongs to the namespace it was created in; the thread that entered the
// namespace is never unlocked, so Go discards it instead of reusing it.
func listenUDPIn(t *testing.T, path, addr string) net.PacketConn {
	t.Helper()
	type result struct {
		c   net.PacketConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread dies with this goroutine
		ns, err := netns.GetFromPath(path)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			ch <- result{nil, err}
			return
		}
		c, err := net.ListenPacket("udp4", addr)
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen udp in %s: %v", path, r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// A UDP port published on every address is reachable from the host on
// 127.0.0.1, and the published element goes away on Detach.
func TestPublishUDP(t *testing.T) {
	ctx := context.Background()
	m := testManager(t, "10.201.28.0/24", nil)
	_, path := testNetns(t)
	srv := listenUDPIn(t, path, ":5353")
	go func() { // echo server
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteTo(buf[:n], from)
		}
	}()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pc.Close()
	ep, err := m.Attach(ctx, AttachRequest{ContainerID: "udp1", NetnsPath: path, Ports: mustPorts(t, fmt.Sprintf("%d:5353/udp", host))})
	if err != nil {
		t.Fatal(err)
	}
	echo := func() (string, error) {
		c, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", host))
		if err != nil {
			return "", err
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		return string(buf[:n]), err
	}
	var got string
	for i := 0; i < 5; i++ {
		if got, err = echo(); err == nil {
			break
		}
	}
	if got != "ping" {
		t.Fatalf("UDP echo through 127.0.0.1:%d: %q, %v", host, got, err)
	}
	flowsOf := func(ip net.IP) int {
		flows, err := netlink.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range flows {
			if f.Reverse.SrcIP.Equal(ip) {
				n++
			}
		}
		return n
	}
	if flowsOf(ep.IP.AsSlice()) == 0 {
		t.Fatal("no conntrack entry for the DNATed flow (test cannot see the flush)")
	}
	if err := m.Detach(ctx, "udp1"); err != nil {
		t.Fatal(err)
	}
	if n := flowsOf(ep.IP.AsSlice()); n != 0 {
		t.Fatalf("%d conntrack entries of %v survive Detach", n, ep.IP)
	}
	if got, err := echo(); err == nil {
		t.Fatalf("UDP still published after Detach: %q", got)
	}
}
