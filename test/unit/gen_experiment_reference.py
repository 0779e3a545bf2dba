#!/usr/bin/python3
"""The reference figures of sql/800_experiments.sql, from scipy and statsmodels.

Loads the data part of the regress test (between "-- BEGIN DATA" and "-- END DATA") into a fresh
scratch database of the server that psql reaches (PGHOST, PGPORT, PGUSER; microtrigger installed),
reads back the raw rows (assignments, conversions, outbox, events) and computes every column of
experiment_results() independently: counts in Python, Wilson and the Katz log-ratio interval with
statsmodels, the z-test with statsmodels' proportions_ztest, Holm with multipletests, the chi-square
test with scipy's chi2_contingency(correction=False), and the always-valid p-value by walking the
timeline and integrating the mixture likelihood ratio numerically (scipy.integrate.quad).
Prints the INSERT of the reference rows that the test holds; with --write, puts it into the test
file between "-- REFERENCE" and "-- END REFERENCE". Run with Debian's python3:
  test/unit/gen_experiment_reference.py [--write] sql/800_experiments.sql
"""
import csv
import io
import math
import os
import subprocess
import sys
import warnings
from collections import defaultdict
from decimal import Decimal

from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_stats_cases import msprt_closed, msprt_quad  # noqa: E402

warnings.simplefilter('ignore')
TAU2 = 4e-4
DB = 'mt_experiment_reference'
COLUMNS = ['users', 'sent', 'successes', 'rate', 'ci_low', 'ci_high', 'lift', 'lift_ci_low', 'lift_ci_high',
           'p_value', 'p_holm', 'chi2_p', 'always_valid_p', 'revenue']


def psql(db, sql, csv_out=False):
    """Runs SQL with psql; the rows as lists of strings when csv_out."""
    args = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db] + (['--csv'] if csv_out else [])
    res = subprocess.run(args, input=sql, capture_output=True, text=True)
    if res.returncode:
        sys.exit(res.stderr)
    return list(csv.reader(io.StringIO(res.stdout)))[1:] if csv_out else None


def load(test_file):
    """The raw rows of the test's data, loaded into a scratch database."""
    text = open(test_file, encoding='utf-8').read()
    data = text.split('-- BEGIN DATA', 1)[1].split('-- END DATA', 1)[0]
    psql('postgres', f'DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};')
    psql(DB, 'SET client_min_messages = warning; CREATE EXTENSION microtrigger CASCADE;\n' + data)
    epoch = 'extract(epoch FROM {})'
    rows = {
        'assignments': psql(DB, f"SELECT experiment, user_id, arm, {epoch.format('assigned_at')} FROM microtrigger.assignments", True),
        'conversions': psql(DB, f"SELECT experiment, user_id, {epoch.format('converted_at')}, revenue FROM microtrigger.conversions", True),
        'outbox': psql(DB, 'SELECT id, user_id, status, experiment FROM microtrigger.outbox', True),
        'events': psql(DB, f"SELECT user_id, event_type, {epoch.format('occurred_at')}, params ->> 'outbox_id' FROM microtrigger.events", True),
    }
    psql('postgres', f'DROP DATABASE {DB};')
    return rows


def results(rows, experiment, metric):
    """{arm: {column: value or None}} for one experiment and metric, and the arms in output order."""
    assigned = {u: (arm, float(t)) for e, u, arm, t in rows['assignments'] if e == experiment}
    arms = sorted({arm for arm, _ in assigned.values()}, key=lambda a: a.encode())
    control = 'holdout' if 'holdout' in arms else arms[0]
    first = {}
    if metric == 'conversion':
        for e, u, t, _ in rows['conversions']:
            if e == experiment:
                first[u] = min(first.get(u, math.inf), float(t))
    else:
        event_type = {'click': 'email_click', 'open': 'email_open'}[metric]
        mails = {(oid, u) for oid, u, _, e in rows['outbox'] if e == experiment}
        for u, et, t, oid in rows['events']:
            if et == event_type and (oid, u) in mails:
                first[u] = min(first.get(u, math.inf), float(t))
    n = defaultdict(int)
    x = defaultdict(int)
    timeline = []
    for u, (arm, t) in assigned.items():
        n[arm] += 1
        timeline.append((t, arm, False))
        if u in first:
            x[arm] += 1
            timeline.append((max(first[u], t), arm, True))
    sent = defaultdict(int)
    for oid, u, status, e in rows['outbox']:
        if e == experiment and u in assigned and status in ('queued', 'sending', 'sent', 'failed'):
            sent[assigned[u][0]] += 1
    revenue = defaultdict(Decimal)
    for e, u, t, rev in rows['conversions']:
        if e == experiment and u in assigned and rev != '':
            revenue[assigned[u][0]] += Decimal(rev)

    # the always-valid p-value: a look at every distinct moment, after all of that moment's rows
    timeline.sort(key=lambda r: r[0])
    seen_n, seen_x = defaultdict(int), defaultdict(int)
    runmin = {a: 1.0 for a in arms}

    def look():
        for a in arms:
            if a != control:
                args = (seen_x[a], seen_n[a], seen_x[control], seen_n[control], TAU2)
                p = msprt_quad(*args) if msprt_closed(*args) > 1e-250 else msprt_closed(*args)
                runmin[a] = min(runmin[a], p)
    for i, (t, arm, success) in enumerate(timeline):
        if success:
            seen_x[arm] += 1
        else:
            seen_n[arm] += 1
        if i + 1 == len(timeline) or timeline[i + 1][0] != t:
            look()

    table = [[x[a], n[a] - x[a]] for a in arms]
    chi2_p = None
    if len(arms) >= 2 and sum(r[0] for r in table) > 0 and sum(r[1] for r in table) > 0:
        chi2_p = float(stats.chi2_contingency(table, correction=False)[1])
    out = {}
    pvals = {}
    for a in arms:
        lo, hi = proportion_confint(x[a], n[a], alpha=0.05, method='wilson')
        row = {'users': n[a], 'sent': sent[a], 'successes': x[a], 'rate': x[a] / n[a],
               'ci_low': 0.0 if x[a] == 0 else float(lo), 'ci_high': 1.0 if x[a] == n[a] else float(hi),
               'lift': None, 'lift_ci_low': None, 'lift_ci_high': None, 'p_value': None, 'p_holm': None,
               'chi2_p': chi2_p, 'always_valid_p': None, 'revenue': revenue[a]}
        if a != control:
            xc, nc = x[control], n[control]
            if xc:
                row['lift'] = (x[a] / n[a]) / (xc / nc) - 1
            if xc and x[a]:
                lo, hi = confint_proportions_2indep(x[a], n[a], xc, nc, method='log', compare='ratio', alpha=0.05)
                row['lift_ci_low'], row['lift_ci_high'] = float(lo) - 1, float(hi) - 1
            pooled = (x[a] + xc) / (n[a] + nc)
            if 0 < pooled < 1:
                pvals[a] = float(proportions_ztest([x[a], xc], [n[a], nc])[1])
                row['p_value'] = pvals[a]
            row['always_valid_p'] = runmin[a]
        out[a] = row
    if pvals:
        names = sorted(pvals)
        for a, adj in zip(names, multipletests([pvals[a] for a in names], method='holm')[1]):
            out[a]['p_holm'] = float(adj)
    return [control] + [a for a in arms if a != control], out


def main(test_file, write):
    rows = load(test_file)
    lines = []
    for experiment, metric in [('cart_subject', 'conversion'), ('cart_subject', 'click'), ('cart_subject', 'open'),
                               ('timing', 'conversion'), ('solo', 'conversion')]:
        order, res = results(rows, experiment, metric)
        for pos, arm in enumerate(order):
            for col in COLUMNS:
                v = res[arm][col]
                val = 'NULL' if v is None else repr(float(v)) if isinstance(v, float) else str(v)
                lines.append(f"('{experiment}', '{metric}', {pos + 1}, '{arm}', '{col}', {val})")
    insert = 'INSERT INTO reference VALUES\n' + ',\n'.join(lines) + ';\n'
    if not write:
        sys.stdout.write(insert)
        return
    text = open(test_file, encoding='utf-8').read()
    head, rest = text.split('-- REFERENCE', 1)
    first_line, rest = rest.split('\n', 1)
    tail = rest.split('-- END REFERENCE', 1)[1]
    open(test_file, 'w', encoding='utf-8').write(head + '-- REFERENCE' + first_line + '\n' + insert
                                                  + '-- END REFERENCE' + tail)


if __name__ == '__main__':
    args = [a for a in sys.argv[1:] if a != '--write']
    main(args[0] if args else 'sql/800_experiments.sql', '--write' in sys.argv[1:])
