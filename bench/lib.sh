# bench/lib.sh: helpers the bench scripts share (sourced; needs $W, a
# scratch directory of the caller's).

# hyperfine_median WRAPPER N CMD prints the median ms of N runs of CMD,
# hyperfine run under WRAPPER (a command prefix, or ""); hyperfine's errors
# stay in $W/h.err.
hyperfine_median() {
	w=$1 n=$2
	shift 2
	$w hyperfine -N -w 2 -r "$n" --export-json "$W/h.json" "$@" >/dev/null 2>"$W/h.err" || return 1
	python3 -c "import json,sys; print('%.2f' % (json.load(open(sys.argv[1]))['results'][0]['median']*1000))" "$W/h.json"
}

# crun_ns CMD runs CMD where crun 1.8 runs: on a hybrid host, in a mount
# namespace without /sys/fs/cgroup/unified (hyperfine inside it, so the
# runs themselves pay nothing extra), as bench/run.sh section 1 does.
crun_ns() {
	if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
		unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh "$@"
	else
		"$@"
	fi
}
