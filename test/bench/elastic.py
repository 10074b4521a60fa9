#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Drives a running gend on synthetic ports through genctl and writes CSVs.
Benchmark helper of test/bench/elastic.sh (prints figures, asserts nothing).

  elastic.py capacity              packets/s the chain forwards with the generators unthrottled
  elastic.py zero-loss HI          the highest offered rate up to HI that loses no frame in a
                                   trial (RFC 2544's throughput), by halving
  elastic.py steps BASE STEP MODE CSV   offered load x1 x2 x3 x4 x3 x2 x1 of BASE, STEP s each,
                                   sampled every 10 ms (genctl stats --watch --json)
  elastic.py sweep CAP MODE CSV CDF    offered load 1 %..110 % of CAP: throughput, p50/p99
  elastic.py point RATE SECS       p50/p95/p99 at one offered rate (one CSV line on stdout)
  elastic.py resettle STEPS_CSV SETTLE_CSV   settle.csv again from a steps.csv (no gend: the
                                   steps start where the offered rate changes; missed -1)

Common environment: GENCTL, SOCK (the control socket), GENS (generators: synthetic
ports x queues; genctl synth-rate sets each one's rate, so the offered load is
GENS x that rate).
"""
import glob
import json
import os
import subprocess
import sys
import time

GENCTL, SOCK, GENS = os.environ.get('GENCTL', 'genctl'), os.environ.get('SOCK', ''), int(os.environ.get('GENS', '2'))
STEPS = [1, 2, 3, 4, 3, 2, 1]
LOADS = [float(x) for x in os.environ.get('ELASTIC_SWEEP_LOADS', '0.01 0.05 0.1 0.25 0.5 0.75 0.9 1.0 1.1').split()]


def ctl(*args):
    r = subprocess.run([GENCTL, '-s', SOCK] + list(args), capture_output=True, text=True)
    if r.returncode:
        sys.exit(f'genctl {" ".join(args)}: {r.stderr.strip()}')
    return r.stdout


def stats():
    return json.loads(ctl('--json', 'stats'))['chains'][0]


def set_rate(total_pps):
    """Offered load in all: each generator gets its share (0 would mean unthrottled: at least 1)."""
    ctl('synth-rate', str(max(1, int(total_pps / GENS))))


def hist_delta(a, b):
    """Latency histogram of the packets between two stats snapshots: {upper ns: packets}."""
    ha = {le: n for le, n in a['latency_hist']}
    return sorted((le, n - ha.get(le, 0)) for le, n in b['latency_hist'] if n - ha.get(le, 0) > 0)


def quantile(h, q):
    total = sum(n for _, n in h)
    if not total:
        return 0.0
    seen, want = 0, q * total
    for le, n in h:
        seen += n
        if seen >= want:
            return le / 1e3
    return h[-1][0] / 1e3


def lost(c):
    """A chain's packets lost so far: dropped for want of room (its inbox, the output port)
    or by a failed backend batch; an NF's DROP verdict (a NIDS rule) is the chain's work,
    not a loss. gend before dropped_verdict: every drop."""
    if 'dropped_verdict' not in c:
        return c['dropped'] + c['backend_lost']
    return c['dropped'] - c['dropped_verdict'] + c['backend_lost']


def measure(secs):
    a, t0 = stats(), time.monotonic()
    time.sleep(secs)
    b, t1 = stats(), time.monotonic()
    dt = t1 - t0
    return {'rx_pps': (b['rx_packets'] - a['rx_packets']) / dt, 'tx_pps': (b['tx_packets'] - a['tx_packets']) / dt,
            'drops': lost(b) - lost(a),
            'hist': hist_delta(a, b), 'placement': b['placement'], 'switches': b['switches'],
            'moves': b['switches'] - a['switches'], 'handover_us': b.get('handover_us_last', 0),
            'handover_bytes': b.get('handover_bytes', 0) - a.get('handover_bytes', 0)}


def capacity():
    """Packets/s the chain forwards with the generators unthrottled (at most 2048 frames of a
    queue in the chains), or, with CAP_RATE, offered CAP_RATE packets/s in all: a NIC's
    overload, the whole UMEM holding the backlog."""
    cap_rate = float(os.environ.get('CAP_RATE', '0'))
    if cap_rate > 0:
        set_rate(cap_rate)
    else:
        ctl('synth-rate', '0')
    time.sleep(1.0)
    m = measure(float(os.environ.get('CAP_SECONDS', '2')))
    print(f"{m['tx_pps']:.0f}")


def zero_loss(hi):
    """The zero-loss throughput (RFC 2544 section 26.1): the highest offered rate, in
    packets/s in all, at which a trial of TRIAL_SECONDS (1) loses no frame (none missed at
    the port, none dropped by the chain; CAP_LOSS, a fraction of the trial's frames, default
    0, allows that many), found by halving [0, hi] down to CAP_RES (1 %) of hi. Between trials
    the load rests at 10 % of hi for 0.5 s, so that a trial does not start from the backlog
    or the state the one before left. With TRIAL_RETRY=1 a trial that loses no more than
    the rate's frames of RETRY_MS (2) ms, what one absence of the port worker's CPU costs
    (RESULTS.md, twentieth run), is run once more, and the rate fails only when that loses
    too: a rare stall of the worker's virtual CPU then no longer sinks the search, while a
    rate that loses more (a queue behind its load) fails at once. One line per trial goes
    to stderr."""
    trial_s = float(os.environ.get('TRIAL_SECONDS', '1'))
    tol, res = float(os.environ.get('CAP_LOSS', '0')), float(os.environ.get('CAP_RES', '0.01')) * hi
    tries = 2 if os.environ.get('TRIAL_RETRY') == '1' else 1
    retry_s = float(os.environ.get('RETRY_MS', '2')) / 1e3
    lo, best = 0.0, 0.0
    while hi - lo > res:
        rate = (lo + hi) / 2
        for t in range(tries):
            set_rate(hi * 0.1)
            time.sleep(0.5)
            set_rate(rate)
            time.sleep(0.2)
            m0 = port_missed()
            m = measure(trial_s)
            gone = port_missed() - m0 + m['drops']
            ok = gone <= tol * rate * trial_s
            print(f'  zero-loss trial {rate:.0f} pps{" (again)" if t else ""}: {m["tx_pps"]:.0f} forwarded, '
                  f'{gone} lost: {"pass" if ok else "fail"}', file=sys.stderr)
            if ok or gone > retry_s * rate:
                break
        if ok:
            lo = best = rate
        else:
            hi = rate
    print(f'{best:.0f}')


SAMPLE_MS = int(os.environ.get('ELASTIC_SAMPLE_MS', '1'))  # the sampler's period; steps.csv rows stay 10 ms


def step_rows(mode, samples, marks, t_start, stride):
    """steps.csv rows, each over `stride` consecutive sampler periods (deltas of the counters)."""
    rows = []
    for i in range(stride, len(samples), stride):
        (t0, pc, pw), (t, c, w) = samples[i - stride], samples[i]
        offered = [r for tm, r in marks if tm <= t][-1]
        dt = (t - t0) / 1e9
        nb = c['batches'] - pc['batches']
        npass = w.get('busy_passes', 0) - pw.get('busy_passes', 0)
        # Queue 0's port worker: its busy share of the sample, frames it took in a pass.
        wl = (f"{(w.get('busy_ns', 0) - pw.get('busy_ns', 0)) / (t - t0):.3f},"
              f"{(w.get('frames_in', 0) - pw.get('frames_in', 0)) / npass if npass else 0:.1f}")
        rows.append(f"{mode},{(t - t_start) / 1e9:.4f},{offered:.0f},{(c['rx_packets'] - pc['rx_packets']) / dt:.0f},"
                    f"{(c['tx_packets'] - pc['tx_packets']) / dt:.0f},{c['batch_last']},"
                    f"{(c['batch_pkts'] - pc['batch_pkts']) / nb if nb else 0:.1f},{c['ring']},"
                    f"{lost(c)},{c['placement']},{c['switches']},{c['window_p50_us']},"
                    f"{c['window_p99_us']},{c['batch_limit']},{c['depth']},{c.get('ring_out', 0)},{wl},"
                    f"{c.get('dropped_verdict', 0)},{w.get('synth_missed', 0) - pw.get('synth_missed', 0)},"
                    f"{w.get('no_frame_passes', 0) - pw.get('no_frame_passes', 0)},{w.get('frames_held', 0)},"
                    f"{w.get('cpu', -1)},{w.get('cpu_moves', 0) - pw.get('cpu_moves', 0)}")
    return rows


STEPS_HEADER = ('mode,t_s,offered_pps,rx_pps,tx_pps,batch_last,batch_avg,ring,drops,placement,switches,'
                'p50_us,p99_us,batch_limit,depth,ring_out,worker_busy,worker_frames_per_pass,verdict_drops,'
                'port_missed,no_frame_passes,frames_held,worker_cpu,worker_cpu_moves\n')


def append_rows(csv, rows):
    new = not os.path.exists(csv)
    with open(csv, 'a') as f:
        if new:
            f.write(STEPS_HEADER)
        f.write('\n'.join(rows) + '\n')


GPU_QUERY = 'timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu,temperature.gpu'


def gpu_clocks_start(path):
    """With ELASTIC_GPU_CLOCKS=1 (elastic.sh sets it on the gpu backend where nvidia-smi is):
    nvidia-smi samples GPU 0's clocks, power and use every 10 ms into path."""
    if os.environ.get('ELASTIC_GPU_CLOCKS') != '1':
        return None
    with open(path, 'w') as f:
        try:
            return subprocess.Popen(['nvidia-smi', '-i', '0', f'--query-gpu={GPU_QUERY}',
                                     '--format=csv,noheader,nounits', '-lms', '10'], stdout=f,
                                    stderr=subprocess.DEVNULL)
        except OSError:
            os.unlink(path)
            return None


def gpu_clocks_rows(path, wall_start, starts):
    """(time from the first step, step, the other fields) per nvidia-smi sample: it stamps
    wall time to the millisecond; the step is the last of starts at or before the sample."""
    rows = []
    for line in open(path):
        f = [x.strip() for x in line.split(',')]
        if len(f) != 6:
            continue
        try:
            sec, ms = f[0].split('.')
            t = time.mktime(time.strptime(sec, '%Y/%m/%d %H:%M:%S')) + float('0.' + ms)
        except ValueError:
            continue
        rel = t - wall_start
        if rel >= 0:
            rows.append((rel, sum(1 for s in starts if s <= rel), f[1:]))
    return rows


def gpu_clocks_report(mode, rows, starts, out):
    """Appends the rows to gpu_clocks.csv; per step, prints the SM clock's range, mean and
    mean over the step's first 30 ms."""
    new = not os.path.exists(out)
    with open(out, 'a') as g:
        if new:
            g.write('mode,t_s,step,sm_mhz,mem_mhz,power_w,gpu_busy_pct,temp_c\n')
        g.write(''.join(f'{mode},{rel:.3f},{k},' + ','.join(f) + '\n' for rel, k, f in rows))
    for k, t0 in enumerate(starts, 1):
        sm = [(rel, float(f[0])) for rel, step, f in rows if step == k]
        if not sm:
            continue
        mhz = [v for _, v in sm]
        first = [v for rel, v in sm if rel < t0 + 0.03]
        print(f'  {mode} step {k}: GPU SM clock {min(mhz):.0f}-{max(mhz):.0f} MHz, mean {sum(mhz) / len(mhz):.0f}'
              f'{f", first 30 ms {sum(first) / len(first):.0f}" if first else ""} ({len(mhz)} samples)')


def steps(base, step_s, mode, csv):
    samples = csv + '.jsonl'
    clocks_path = os.path.join(os.path.dirname(csv), f'.gpu_clocks_{mode}.txt')
    clocks = gpu_clocks_start(clocks_path)
    with open(samples, 'w') as f:
        sampler = subprocess.Popen([GENCTL, '-s', SOCK, '--json', '--watch', '--interval', str(SAMPLE_MS), 'stats'],
                                   stdout=f)
        marks, missed = [], []
        steal0, sched0 = cpu_steal(), worker_sched()
        for m in STEPS:
            set_rate(base * m)
            marks.append((time.monotonic_ns(), base * m))
            if len(marks) == 1:
                wall_start = time.time()  # nvidia-smi's samples carry wall time
            missed.append(port_missed())  # after the new rate: the step's own frames only
            time.sleep(step_s)
        missed.append(port_missed())
        steal1, sched1 = cpu_steal(), worker_sched()
        sampler.terminate()
        sampler.wait()
    t_start = marks[0][0]
    if clocks:
        clocks.terminate()
        clocks.wait()
        starts = [(tm - t_start) / 1e9 for tm, _ in marks]
        gpu_clocks_report(mode, gpu_clocks_rows(clocks_path, wall_start, starts), starts,
                          os.path.join(os.path.dirname(csv), 'gpu_clocks.csv'))
        os.unlink(clocks_path)
    raw = []
    for line in open(samples):
        try:
            s = json.loads(line)
        except ValueError:
            continue
        if s['t_ns'] >= t_start:
            raw.append((s['t_ns'], s['chains'][0], s.get('workers', [{}])[0]))
    os.unlink(samples)
    rows = step_rows(mode, raw, marks, t_start, max(1, round(10 / SAMPLE_MS)))
    append_rows(csv, rows)
    fine = step_rows(mode, raw, marks, t_start, 1)
    if os.environ.get('ELASTIC_FINE') == '1':  # every sample, to look at a step's first milliseconds
        append_rows(csv.replace('.csv', f'_{SAMPLE_MS}ms.csv'), fine)
    print(f'{mode}: {len(rows)} samples of 10 ms over {len(STEPS)} steps of {step_s} s, base {base:.0f} pps '
          f'(settling read from {len(raw)} samples of {SAMPLE_MS} ms)')
    settle(mode, [r.split(',') for r in fine],
           [(tm - t_start) / 1e9 for tm, _ in marks], [r for _, r in marks],
           step_s, [b - a for a, b in zip(missed, missed[1:])], os.path.join(os.path.dirname(csv), 'settle.csv'),
           SAMPLE_MS)
    absent_report(mode, [r.split(',') for r in fine], steal0, steal1, sched0, sched1)


def cpu_steal():
    """Per CPU, the time the hypervisor ran something else while this CPU had work (steal,
    /proc/stat, in ms)."""
    out = {}
    try:
        for line in open('/proc/stat'):
            f = line.split()
            if f[0].startswith('cpu') and f[0] != 'cpu' and len(f) > 8:
                out[int(f[0][3:])] = int(f[8]) * 1000 / os.sysconf('SC_CLK_TCK')
    except OSError:
        pass
    return out


def worker_sched():
    """gend's first port worker (thread gen-w0): its run delay (ns it waited, runnable, for its
    CPU while the guest ran something else: /proc/.../schedstat) and involuntary switches."""
    for comm in glob.glob('/proc/[0-9]*/task/[0-9]*/comm'):
        try:
            if open(comm).read().strip() != 'gen-w0':
                continue
            d = os.path.dirname(comm)
            delay = int(open(os.path.join(d, 'schedstat')).read().split()[1])
            nvcsw = [int(l.split()[1]) for l in open(os.path.join(d, 'status'))
                     if l.startswith('nonvoluntary_ctxt_switches')][0]
            return delay, nvcsw
        except (OSError, ValueError, IndexError):
            continue
    return None


def absent_report(mode, rows, steal0, steal1, sched0, sched1):
    """The 1 ms samples in which the port worker was away (received under 20 % of the offered
    rate: its thread did not run), against the two ways a thread loses its CPU: the guest's
    scheduler running something else there (the worker's run delay and involuntary
    switches), and the hypervisor taking the virtual CPU (steal on the CPUs it ran on,
    /proc/stat, 10 ms ticks). A worker away for a millisecond or two misses what a NIC
    would have held."""
    away = sum(1 for r in rows if float(r[2]) > 0 and float(r[3]) < 0.2 * float(r[2]))
    cpus = sorted({int(r[22]) for r in rows if int(r[22]) >= 0})
    steal = sum(steal1.get(c, 0) - steal0.get(c, 0) for c in cpus)
    every = sum(steal1.values()) - sum(steal0.values())
    guest = (f'run delay {(sched1[0] - sched0[0]) / 1e6:.2f} ms, {sched1[1] - sched0[1]} involuntary switches'
             if sched0 and sched1 else 'run delay not read')
    print(f'  {mode}: port worker away in {away} of {len(rows)} samples of {SAMPLE_MS} ms; over the steps '
          f'its {guest}; steal on its CPU {",".join(map(str, cpus)) or "-"}: {steal:.0f} ms '
          f'(all {len(steal1)} CPUs: {every:.0f} ms)')


def port_missed():
    """Frames the synthetic ports could not place at the offered rate (a NIC's rx_missed)."""
    st = json.loads(ctl('--json', 'status'))
    return sum(p.get('missed', 0) for p in st['port_modes'])


def settle(mode, rows, starts, rates, step_s, missed, out, period_ms=10):
    """Per step: the batch size it settles at (median of the step's second half); with the
    mean batch size over the last 30 ms of samples (a single batch swings a 10 ms figure)
    and a band of 25 % (or 4 packets) around that median: the time from the step to the end
    of the first sample (period_ms long) inside the band (reach: a sample that straddles
    the step mixes both rates, so the reading is late by up to one period, which is why the
    steps sample every millisecond), the share of the 30 ms means after it inside it, and
    the time until it stays inside for the rest of the step (last exit: any noisy sample late
    in the step moves it); and the drops within the step: the chain's losses (lost(): not an
    NF's DROP verdict, which steps.csv keeps apart), and the frames the synthetic ports found
    no room for (missed). The step's offered rate is the one it set
    (rates[k]): its first sample may be stamped a fraction of a millisecond before the step
    and carry the last rate. Appends to settle.csv and prints a line per step."""
    new = not os.path.exists(out)
    with open(out, 'a') as f:
        if new:
            f.write('mode,step,offered_pps,settled_batch,settle_ms,reach_ms,inside_pct,drops,missed,samples\n')
        for k, t0 in enumerate(starts):
            t1 = starts[k + 1] if k + 1 < len(starts) else t0 + step_s
            pts = [(float(r[1]), float(r[6]), int(r[8])) for r in rows if t0 <= float(r[1]) < t1]
            if len(pts) < 4:
                continue
            tail = sorted(b for t, b, _ in pts if t >= (t0 + t1) / 2)
            med = tail[len(tail) // 2]
            ok = lambda b: abs(b - med) <= max(0.25 * med, 4)
            nr = max(1, round(30 / period_ms))
            roll = [(pts[i][0], sum(p[1] for p in pts[i - nr + 1:i + 1]) / nr) for i in range(nr - 1, len(pts))]
            last_bad = max((t for t, b in roll if not ok(b)), default=None)
            ms = 0.0 if last_bad is None else (last_bad - t0) * 1e3 + period_ms
            first = next((t for t, b, _ in pts if ok(b)), None)
            reach = -1.0 if first is None else max(0.0, (first - t0) * 1e3)
            later = [(t, b) for t, b in roll if first is not None and t >= first]
            inside = 100.0 * sum(1 for _, b in later if ok(b)) / len(later) if later else 0.0
            drops = pts[-1][2] - pts[0][2]
            # Where the chain ran, and its hybrid moves within the step.
            mine = [r for r in rows if t0 <= float(r[1]) < t1]
            where, moves = mine[-1][9], int(mine[-1][10]) - int(mine[0][10])
            f.write(f'{mode},{k + 1},{rates[k]:.0f},{med:.1f},{ms:.0f},{reach:.1f},{inside:.0f},{drops},{missed[k]},'
                    f'{len(pts)}\n')
            print(f'  {mode} step {k + 1} ({rates[k] / 1e6:.2f} Mpps): batch settles at {med:.1f}: reaches the band '
                  f'in {reach:.1f} ms, {inside:.0f} % of later 30 ms means inside, last exit {ms:.0f} ms; '
                  f'{drops} drops, {missed[k]} missed at the port in the step; on {where}'
                  + (f' ({moves} moves)' if moves else ''))


def resettle(steps_csv, out):
    """settle() over a steps.csv written earlier, each mode's steps starting at the first
    sample of a new offered rate (within a 10 ms sample of the real start)."""
    by_mode = {}
    for line in open(steps_csv).read().splitlines()[1:]:
        r = line.split(',')
        by_mode.setdefault(r[0], []).append(r)
    for mode, rows in by_mode.items():
        starts, rates = [], []
        for r in rows:
            if not rates or float(r[2]) != rates[-1]:
                starts.append(float(r[1]))
                rates.append(float(r[2]))
        step_s = (starts[-1] - starts[0]) / (len(starts) - 1) if len(starts) > 1 else 1.0
        settle(mode, rows, starts, rates, step_s, [-1] * len(starts), out)


def sweep(cap, mode, csv, cdf):
    """One point per load of LOADS x cap. With TARGET_US (the bound's latency_target_us) it
    also says at which of the loads carried whole (nothing lost in the chain or missed at
    the port) the p99 kept the target: the issue's "p99 <= latency_target_us wherever the
    offered load is below the capacity that the target allows". Latency and throughput are
    those of the SWEEP_SECONDS window after a 0.5 s rest; drops, port misses and hybrid
    moves (with the hand-over's time and bytes) count from the rate's change."""
    secs = float(os.environ.get('SWEEP_SECONDS', '2'))
    target = float(os.environ.get('TARGET_US') or 0)
    new, newc = not os.path.exists(csv), not os.path.exists(cdf)
    whole = []
    with open(csv, 'a') as f, open(cdf, 'a') as g:
        if new:
            f.write('mode,load,offered_pps,tx_pps,p50_us,p99_us,drops,placement,port_missed\n')
        if newc:
            g.write('mode,load,latency_us,cum_frac\n')
        for load in LOADS:
            # Drops, port misses and moves count from the rate's change, so that what
            # a move costs in the 0.5 s before the measured window is not left out.
            s0, m0 = stats(), port_missed()
            set_rate(cap * load)
            time.sleep(0.5)
            m = measure(secs)
            s1, missed = stats(), port_missed() - m0
            m['drops'], m['moves'] = lost(s1) - lost(s0), s1['switches'] - s0['switches']
            m['handover_us'], m['handover_bytes'] = (s1.get('handover_us_last', 0),
                                                     s1.get('handover_bytes', 0) - s0.get('handover_bytes', 0))
            p50, p99 = quantile(m['hist'], 0.5), quantile(m['hist'], 0.99)
            f.write(f"{mode},{load},{cap * load:.0f},{m['tx_pps']:.0f},{p50},{p99},{m['drops']},{m['placement']},"
                    f"{missed}\n")
            print(f"  {mode} {load * 100:5.1f} %: offered {cap * load / 1e6:.3f} Mpps, forwarded {m['tx_pps'] / 1e6:.3f} Mpps, "
                  f"p50 {p50:.1f} us, p99 {p99:.1f} us, drops {m['drops']}, missed at the port {missed}, "
                  f"on {m['placement']}"
                  + (f" (moved {m['moves']}x here, the last NF hand-over {m['handover_us']:.0f} us, "
                     f"{m['handover_bytes']} bytes)" if m['moves'] else ''))
            if not m['drops'] and not missed:
                whole.append((load, p99))
            total, seen = sum(n for _, n in m['hist']), 0
            for le, n in m['hist']:
                seen += n
                g.write(f'{mode},{load},{le / 1e3},{seen / total:.5f}\n')
    if target:
        kept = [ld for ld, p99 in whole if p99 <= target]
        print(f"  {mode}: p99 <= {target:.0f} us at {len(kept)} of the {len(whole)} loads carried whole "
              f"({', '.join(f'{ld * 100:g} %' for ld, _ in whole) or 'none'})"
              + (f"; over it at {', '.join(f'{ld * 100:g} % ({p:.0f} us)' for ld, p in whole if p > target)}"
                 if len(kept) < len(whole) else ''))


def point(rate, secs):
    set_rate(rate)
    time.sleep(0.5)
    m = measure(secs)
    print(f"{m['tx_pps']:.0f},{quantile(m['hist'], 0.5)},{quantile(m['hist'], 0.95)},{quantile(m['hist'], 0.99)}")


cmd = sys.argv[1]
if cmd == 'capacity':
    capacity()
elif cmd == 'zero-loss':
    zero_loss(float(sys.argv[2]))
elif cmd == 'steps':
    steps(float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5])
elif cmd == 'sweep':
    sweep(float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
elif cmd == 'point':
    point(float(sys.argv[2]), float(sys.argv[3]))
elif cmd == 'resettle':
    resettle(sys.argv[2], sys.argv[3])
else:
    sys.exit(__doc__)
