package main

import (
	"github.com/kago-run/kago/internal/psrow"
	"io"
	"time"

	"github.com/kago-run/kago/internal/format"
	"github.com/kago-run/kago/network"
)

// networkDefaultFormat is kago's network ls table: docker's columns less
// the ID kago's networks lack, with the bridge and addresses.
const networkDefaultFormat = `table {{.Name}}\t{{.Driver}}\t{{.Bridge}}\t{{.Subnet}}\t{{.Gateway}}`

// networkHeaders are docker's column names for the network fields.
var networkHeaders = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6", "Internal": "INTERNAL",
	"Labels": "LABELS", "CreatedAt": "CREATED AT", "Bridge": "BRIDGE", "Subnet": "SUBNET", "Gateway": "GATEWAY",
}

// networkRow is a network as network ls templates see it: docker's fields
// and kago's bridge and addresses.
type networkRow struct {
	Name, Driver, Scope, IPv6, Internal, Labels, CreatedAt string
	Bridge, Subnet, Gateway                                string
}

func writeNetworkRows(w io.Writer, nets []network.NetworkInfo, fmtFlag string) error {
	f, err := format.New(fmtFlag, networkDefaultFormat)
	if err != nil {
		return err
	}
	rows := make([]any, len(nets))
	for i, n := range nets {
		created := ""
		if !n.Created.IsZero() {
			created = n.Created.Local().Format(time.DateTime + " -0700 MST")
		}
		rows[i] = networkRow{Name: n.Name, Driver: "bridge", Scope: "local", IPv6: "false", Internal: "false",
			Labels: psrow.JoinLabels(n.Labels), CreatedAt: created, Bridge: n.Bridge, Subnet: n.Subnet.String(), Gateway: n.Gateway.String()}
	}
	return f.Write(w, rows, networkHeaders)
}
