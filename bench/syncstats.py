#!/usr/bin/env python3
"""Summarize the sync calls of a broker traced by `bench/latency.sh -s`.

    bench/syncstats.py bench/.lat/strace.1 [slow_ms]

strace -f -tt -T -y prints each traced call with its start time, the path
of its file descriptor and its duration. This groups the syncs by the kind
of file (WAL segment, object file, directory, etcd, other) and other calls
by name and kind ("pwrite64 wal", "sync_file_range object"), prints the
latency
percentiles of each kind, and for every WAL sync slower than slow_ms (5 by
default) the other syncs that overlapped it in time: if the slow WAL syncs
coincide with object or etcd syncs, they wait on the same journal commit
or device flush.
"""
import re
import sys
from collections import defaultdict

LINE = re.compile(r'^(\d+)\s+(\d\d):(\d\d):(\d\d\.\d+)\s+(.*)$')
CALL = re.compile(r'^(\w+)\((.*?)\)\s+=\s+(-?\d+).*<([\d.]+)>$')
UNFIN = re.compile(r'^(\w+)\((.*) <unfinished \.\.\.>$')
RESUM = re.compile(r'^<\.\.\. (\w+) resumed>.*\)\s+=\s+(-?\d+).*<([\d.]+)>$')


def path_kind(path, call):
    if '/meta/' in path:
        return 'etcd'
    last = path.rsplit('/', 1)[-1]
    if '/wal/' in path and path.endswith('.log'):
        return 'wal'
    if '/objects' in path and (last.startswith('.tmp-') or last.endswith('.obj')):
        return 'object'
    if call == 'fsync' and '.' not in last:
        return 'dir'
    return 'other'


def kind(call, args):
    """fsync/fdatasync by the kind of file ('wal', 'object', 'etcd', 'dir',
    'other'); any other call as 'call kind' (e.g. 'pwrite64 wal')."""
    if call.startswith('rename') or call.startswith('unlink') or call == 'openat':
        return call
    m = re.search(r'<([^>]*)>', args)
    k = path_kind(m.group(1) if m else args, call)
    return k if call in ('fsync', 'fdatasync') else f'{call} {k}'


def main():
    path = sys.argv[1]
    slow = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.005
    events = []  # (start, dur, kind, call, args)
    pending = {}
    for line in open(path):
        m = LINE.match(line.strip())
        if not m:
            continue
        pid, hh, mm, ss, rest = m.groups()
        t = int(hh) * 3600 + int(mm) * 60 + float(ss)
        c = CALL.match(rest)
        if c:
            events.append((t, float(c.group(4)), kind(c.group(1), c.group(2)), c.group(1), c.group(2)))
            continue
        u = UNFIN.match(rest)
        if u:
            pending[pid] = (t, u.group(1), u.group(2))
            continue
        r = RESUM.match(rest)
        if r and pid in pending:
            t0, call, args = pending.pop(pid)
            events.append((t0, float(r.group(3)), kind(call, args), call, args))
    by = defaultdict(list)
    for e in events:
        by[e[2]].append(e[1])
    print(f'{"kind":<24}{"n":>7}{"p50 ms":>9}{"p95 ms":>9}{"p99 ms":>9}{"max ms":>9}{"total s":>9}')
    for k, ds in sorted(by.items(), key=lambda kv: -len(kv[1])):
        ds.sort()
        pct = lambda q: ds[min(len(ds) - 1, int(q * len(ds)))] * 1000
        print(f'{k:<24}{len(ds):>7}{pct(.5):>9.2f}{pct(.95):>9.2f}{pct(.99):>9.2f}{ds[-1]*1000:>9.2f}{sum(ds):>9.2f}')
    wal = [e for e in events if e[2] == 'wal']
    slow_wal = [e for e in wal if e[1] > slow]
    print(f'\nWAL syncs slower than {slow*1000:.0f} ms: {len(slow_wal)} of {len(wal)}, '
          f'{sum(e[1] for e in slow_wal):.2f} s of {sum(e[1] for e in wal):.2f} s WAL sync time')
    overlap = defaultdict(int)
    for s in slow_wal:
        kinds = set()
        for e in events:
            if e is s or e[2] == 'wal':
                continue
            if e[0] < s[0] + s[1] and s[0] < e[0] + e[1]:
                kinds.add(e[2])
        overlap[','.join(sorted(kinds)) or 'nothing'] += 1
    for k, n in sorted(overlap.items(), key=lambda kv: -kv[1]):
        print(f'  overlapping {k}: {n}')


if __name__ == '__main__':
    main()
