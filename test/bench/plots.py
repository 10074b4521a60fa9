#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Draw the elasticity figures from the CSVs test/bench/elastic.sh writes.

usage: plots.py CSV_DIR [PNG_DIR]     (PNG_DIR defaults to CSV_DIR)

Needs Debian's python3-matplotlib. Each figure is drawn from the CSV it needs
and skipped, with a line saying so, when that CSV is missing:
  sizes.csv    -> throughput_size.png   throughput vs packet size
  chainlen.csv -> throughput_chain.png  throughput vs chain length (1 to 7 NFs)
  cdf.csv      -> latency_cdf.png       latency CDFs at 10, 50 and 90 % load
  steps.csv    -> fig7.png              offered rate, batch size, p99 and placement vs time
  sweep.csv    -> latency_load.png      p50/p99 and throughput vs offered load
  fig6.csv     -> fig6.png              rtc vs pipeline: throughput at 64/128 B, p95 at one rate
"""
import csv
import os
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

src = sys.argv[1]
dst = sys.argv[2] if len(sys.argv) > 2 else src
os.makedirs(dst, exist_ok=True)


def rows(name):
    path = os.path.join(src, name)
    if not os.path.exists(path):
        print(f'{name}: not there, figure skipped')
        return None
    return list(csv.DictReader(open(path)))


def save(fig, name):
    fig.tight_layout()
    fig.savefig(os.path.join(dst, name), dpi=110)
    plt.close(fig)
    print(f'wrote {os.path.join(dst, name)}')


def by(rs, key):
    out = {}
    for r in rs:
        out.setdefault(r[key], []).append(r)
    return out


def per_backend(csv, x, y, xlabel, ylabel, title, png):
    """One line per backend: x(row) against y(row)."""
    rs = rows(csv)
    if not rs:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for be, g in by(rs, 'backend').items():
        ax.plot([x(r) for r in g], [y(r) for r in g], 'o-', label=be)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, png)


def sizes():
    per_backend('sizes.csv', lambda r: int(r['size']), lambda r: float(r['gbps']), 'frame size (B)',
                'throughput (Gbit/s on the wire)', 'Throughput vs packet size', 'throughput_size.png')


def chainlen():
    per_backend('chainlen.csv', lambda r: int(r['nfs']), lambda r: float(r['pps']) / 1e6, 'NFs in the chain',
                'Mpps (64 B)', 'Throughput vs chain length', 'throughput_chain.png')


def cdf():
    rs = rows('cdf.csv')
    if not rs:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for (mode, load), g in sorted({(r['mode'], r['load']): None for r in rs}.items()):
        if float(load) not in (0.1, 0.5, 0.9):
            continue
        pts = [r for r in rs if r['mode'] == mode and r['load'] == load]
        ax.step([float(r['latency_us']) for r in pts], [float(r['cum_frac']) for r in pts], where='post',
                label=f'{mode} {float(load) * 100:.0f} %')
    ax.set_xscale('log')
    ax.set_xlabel('latency in the chain (us)')
    ax.set_ylabel('fraction of packets')
    ax.set_title('Latency CDF')
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save(fig, 'latency_cdf.png')


def fig7():
    rs = rows('steps.csv')
    if not rs:
        return
    modes = by(rs, 'mode')
    fig, axs = plt.subplots(4, 1, figsize=(7, 8), sharex=True)
    for mode, g in modes.items():
        t = [float(r['t_s']) for r in g]
        axs[1].plot(t, [float(r['batch_avg']) for r in g], label=mode, lw=0.8)
        axs[2].plot(t, [max(float(r['p99_us']), 0.1) for r in g], label=mode, lw=0.8)
        axs[3].step(t, [0 if r['placement'] == 'cpu' else 1 for r in g], where='post', label=mode)
    g = next(iter(modes.values()))
    axs[0].step([float(r['t_s']) for r in g], [float(r['offered_pps']) / 1e6 for r in g], where='post', label='offered')
    axs[0].plot([float(r['t_s']) for r in g], [float(r['tx_pps']) / 1e6 for r in g], lw=0.5, alpha=0.6,
                label=f'forwarded ({g[0]["mode"]})')
    axs[0].set_ylabel('Mpps')
    axs[1].set_ylabel('batch size')
    axs[2].set_ylabel('p99 (us, 10 ms)')
    axs[2].set_yscale('log')
    axs[3].set_ylabel('placement')
    axs[3].set_yticks([0, 1], ['cpu', 'gpu'])
    axs[3].set_xlabel('time (s)')
    for ax in axs:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='upper right')
    axs[0].set_title('Fig. 7: offered load x1 x2 x3 x4 x3 x2 x1, sampled every 10 ms')
    save(fig, 'fig7.png')


def sweep():
    rs = rows('sweep.csv')
    if not rs:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (mode, g) in enumerate(by(rs, 'mode').items()):
        load, c = [float(r['load']) * 100 for r in g], f'C{i}'  # one colour a mode: p99 solid, p50 dashed
        a.plot(load, [float(r['p50_us']) for r in g], 'o--', color=c, alpha=0.6, label=f'{mode} p50')
        a.plot(load, [float(r['p99_us']) for r in g], 'o-', color=c, label=f'{mode} p99')
        b.plot(load, [float(r['tx_pps']) / 1e6 for r in g], 'o-', color=c, label=mode)
    a.set_yscale('log')
    a.set_xlabel('offered load (% of capacity)')
    a.set_ylabel('latency (us)')
    a.set_title('Latency vs load')
    b.set_xlabel('offered load (% of capacity)')
    b.set_ylabel('forwarded (Mpps)')
    b.set_title('Throughput vs load')
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, 'latency_load.png')


def fig6():
    rs = rows('fig6.csv')
    if not rs:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    modes = by(rs, 'gpu_mode')
    sizes_ = sorted({int(r['size']) for r in rs})
    for i, (mode, g) in enumerate(modes.items()):
        cap = {int(r['size']): float(r['capacity_pps']) / 1e6 for r in g}
        a.bar([x + i * 0.4 for x in range(len(sizes_))], [cap.get(s, 0) for s in sizes_], 0.4, label=mode)
        p95 = [float(r['p95_us']) for r in g if int(r['size']) == sizes_[0]]
        b.bar([i], p95, 0.6, label=mode)
    a.set_xticks([x + 0.2 for x in range(len(sizes_))], [f'{s} B' for s in sizes_])
    a.set_ylabel('Mpps')
    q = rs[0].get('queues')
    a.set_title('Fig. 6a: throughput' + (f' ({q} queues)' if q else ''))
    b.set_xticks(range(len(modes)), list(modes))
    b.set_ylabel(f'p95 (us) at {float(rs[0]["rate_pps"]) / 1e6:.2f} Mpps')
    b.set_title('Fig. 6b: p95 latency')
    a.legend()
    save(fig, 'fig6.png')


for f in (sizes, chainlen, cdf, fig7, sweep, fig6):
    f()
