package mac

import (
	"net/netip"
	"testing"
)

func TestFromIPBits(t *testing.T) {
	hw := FromIP(netip.MustParseAddr("10.89.3.4"))
	if hw.String() != "02:42:0a:59:03:04" {
		t.Fatalf("FromIP = %s", hw)
	}
	if hw[0]&localBit == 0 || hw[0]&multicastBit != 0 {
		t.Fatalf("%s: want U/L set, multicast clear", hw)
	}
	if err := Validate(hw); err != nil {
		t.Fatal(err)
	}
}

func TestFromOUI(t *testing.T) {
	oui, err := ParseOUI("00:16:3e")
	if err != nil {
		t.Fatal(err)
	}
	hw, err := FromOUI(oui, netip.MustParseAddr("10.89.3.4"))
	if err != nil {
		t.Fatal(err)
	}
	if hw.String() != "00:16:3e:59:03:04" || hw[0]&(localBit|multicastBit) != 0 {
		t.Fatalf("FromOUI = %s", hw)
	}
	for _, bad := range []string{"02:16:3e", "01:00:5e", "00:16", "zz:16:3e", "00:16:3e:01"} {
		if _, err := ParseOUI(bad); err == nil {
			t.Errorf("ParseOUI(%q) accepted", bad)
		}
	}
}

func TestParseExplicit(t *testing.T) {
	hw, err := Parse("02:aa:bb:cc:dd:ee")
	if err != nil || hw.String() != "02:aa:bb:cc:dd:ee" {
		t.Fatalf("Parse = %v, %v", hw, err)
	}
	// A universally administered address is allowed when given explicitly.
	if _, err := Parse("00:16:3e:00:00:01"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"01:00:5e:00:00:01", "03:42:00:00:00:01", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff",
		"02:42:00:00:00", "02:42:00:00:00:00:00:01", "not-a-mac", ""} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"02:42:0a:59:00:02", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "0242.0a59.0002", "", "::::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hw, err := Parse(s)
		if err != nil {
			return
		}
		if len(hw) != 6 || hw[0]&multicastBit != 0 || isAll(hw, 0) {
			t.Fatalf("Parse(%q) accepted bad %s", s, hw)
		}
	})
}
