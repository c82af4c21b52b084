"""report.html with PNG figures (matplotlib, Agg backend) and report.json, from an AuditReport."""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .leakage import BLIND_LABEL, ORACLE

__all__ = ["render"]

_BACKBONE_NAMES = {"stats": "statistics backbone", "cnn": "int8 CNN backbone (the demo's)",
                   "project": "the project's int8 backbone"}

_METRICS = (  # (leak, metric, axis label)
    ("label", "label accuracy", "label accuracy"),
    ("features", "feature centered cosine", "feature cosine (centered)"),
    ("raw_input", "input PSNR (dB)", "input PSNR (dB)"),
    ("raw_input", "input phase-aligned correlation", "input phase-aligned corr."),
)
_LEAK_NAMES = {"label": "label", "features": "features", "raw_input": "raw input"}
_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
_BASE_STYLE = {"class mean (recovered label)": ("#7f7f7f", "--"), "random same class (recovered label)": ("#bcbd22", ":"),
               "global mean": ("#17becf", "-."), ORACLE: ("#8c564b", (0, (1, 3))),
               BLIND_LABEL: ("#7f7f7f", "--"), "majority class (auxiliary data)": ("#17becf", "-."),
               "sample count spread evenly over the classes": ("#bcbd22", ":"),
               "sample count spread by the label prior (auxiliary data)": ("#e377c2", ":")}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 110})
    return plt


def _x(levels: list[Any], axis: str) -> np.ndarray:
    if axis == "sigma":
        return np.array([lv.noise_multiplier for lv in levels])
    return np.array([lv.eps_rdp for lv in levels])


def _noise_axis(ax: Any, x: np.ndarray) -> None:
    """symlog so that z = 0 (no noise) sits on the axis next to the log-spaced levels."""
    ax.set_xscale("symlog", linthresh=0.1, linscale=0.5)
    ax.set_xlim(-0.02, max(float(np.max(x)), 0.1) * 1.5)


def _metric_figure(report: Any, path: Path, axis: str) -> Path | None:
    plt = _plt()
    levels = [lv for lv in report.levels if axis == "sigma" or math.isfinite(lv.eps_rdp)]
    if not levels:
        return None
    x = _x(levels, axis)
    fig, grid = plt.subplots(2, 2, figsize=(11.5, 8.2))
    for ax, (leak, metric, label) in zip(grid.ravel(), _METRICS):
        attacks = sorted({s.attack for lv in levels for s in lv.scores if s.metric == metric})
        for i, attack in enumerate(attacks):
            est, lo, hi, leaks = [], [], [], []
            for lv in levels:
                s = lv.score(metric, attack)
                est.append(s.attack_interval.estimate if s else np.nan)
                lo.append(s.attack_interval.lo if s else np.nan)
                hi.append(s.attack_interval.hi if s else np.nan)
                leaks.append(bool(s and s.beats_all))
            est, lo, hi = np.array(est), np.array(lo), np.array(hi)
            color = _COLORS[i % len(_COLORS)]
            # a (2, n) array, not a list: matplotlib warns on a list of one-point arrays
            ax.errorbar(x, est, yerr=np.vstack([np.maximum(est - lo, 0), np.maximum(hi - est, 0)]), color=color,
                        marker="o", ms=4, capsize=2, lw=1.4, label=f"attack: {attack}")
            leak_x = x[np.array(leaks)]
            ax.scatter(leak_x, est[np.array(leaks)], s=70, facecolors="none", edgecolors=color, lw=1.5)
        first = next((lv.score(metric) for lv in levels if lv.score(metric)), None)
        for name in (first.baselines if first else {}):
            vals = [lv.score(metric).baselines[name].estimate if lv.score(metric) and name in lv.score(metric).baselines
                    else np.nan for lv in levels]
            color, style = _BASE_STYLE.get(name, ("#999999", "--"))
            ax.plot(x, vals, color=color, ls=style, lw=1.2, label=f"baseline: {name}")
        if axis == "sigma":
            _noise_axis(ax, x)
            ax.set_xlabel("noise multiplier z (sigma / C)")
            marker = report.configured_z
        else:
            ax.set_xscale("log")
            ax.set_xlabel("eps per release (RDP, replace, delta %g)" % report.config.dp.delta)
            here = report.level(report.configured_z)
            marker = here.eps_rdp if here is not None and math.isfinite(here.eps_rdp) else None
        if marker is not None:
            ax.axvline(marker, color="black", lw=1, alpha=0.6)
            ax.annotate("configured", (marker, 0.0), xycoords=("data", "axes fraction"), fontsize=8,
                        ha="left", va="bottom", xytext=(3, 3), textcoords="offset points")
        here = report.level(report.configured_z)
        verdict = here.verdict(leak) if here is not None else "-"
        ax.set_title(f"{_LEAK_NAMES[leak]}: {verdict} at the configured z")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6.5, loc="best", framealpha=0.7)
        else:  # e.g. raw input of a project: no backbone to invert, nothing scored
            ax.text(0.5, 0.5, "not audited", transform=ax.transAxes, ha="center", va="center", color="#777777")
    title = ("leakage against the noise" if axis == "sigma" else
             "leakage against eps (z = 0 has no eps and is left out)")
    fig.suptitle(f"{title}\nopen circles: the attack beats every fair baseline beyond the CI; "
                 "bars: 95% intervals", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _reconstruction_figure(report: Any, path: Path) -> Path | None:
    plt = _plt()
    show = [lv for lv in report.levels if lv.examples and lv.noise_multiplier in (0.0, report.configured_z)]
    if not show:
        show = [lv for lv in report.levels if lv.examples][:2]
    if not show:
        return None
    n_rows = max(len(lv.examples) for lv in show)
    fig, axes = plt.subplots(n_rows, len(show), figsize=(6.0 * len(show), 2.4 * n_rows), squeeze=False)
    for col, lv in enumerate(show):
        for row in range(n_rows):
            ax = axes[row][col]
            if row >= len(lv.examples):
                ax.axis("off")
                continue
            ex = lv.examples[row]
            orig = np.asarray(ex["original"])
            channel = int(np.argmax(orig.std(axis=0)))
            t = np.arange(orig.shape[0])
            ax.plot(t, orig[:, channel], color="black", lw=1.6, label="original")
            if ex.get("inversion") is not None:
                ax.plot(t, np.asarray(ex["inversion"])[:, channel], color=_COLORS[0], lw=1.1,
                        label="attack: inversion")
            if ex.get("level") is not None:  # statistics backbone only
                ax.plot(t, np.asarray(ex["level"])[:, channel], color=_COLORS[1], lw=1.1, ls="--",
                        label="attack: class shape at recovered level")
            ax.plot(t, np.asarray(ex["class_mean"])[:, channel], color="#7f7f7f", lw=1.0, ls=":",
                    label="baseline: class mean")
            ax.set_title(f"z = {lv.noise_multiplier:g}: {ex['device']} round {ex['round']}, channel {channel}, "
                         f"label {ex['true_label']} (recovered {ex['recovered_label']})", fontsize=8)
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=7, loc="upper right")
            if row == n_rows - 1:
                ax.set_xlabel("time step")
    name = f"project {report.audited()['project']}" if report.config.project else "BasicMotions"
    fig.suptitle(f"{name} windows: originals beside reconstructions from the update", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _utility_figure(report: Any, path: Path) -> Path | None:
    u = report.utility
    if u is None:
        return None
    plt = _plt()
    from ..privacy import epsilon

    z = np.array(u.noise_levels)
    eps = np.array([epsilon(v, 1, report.config.dp.delta) if v > 0 else np.inf for v in z])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (n, acc) in enumerate(u.accuracy.items()):
        style = dict(marker="o", ms=4, lw=2.0 if n == report.config.fleet_size else 1.1,
                     color=_COLORS[i % len(_COLORS)],
                     label=f"N = {n}" + (" (assumed)" if n == report.config.fleet_size else ""))
        a1.plot(z, acc, **style)
        keep = np.isfinite(eps)
        a2.plot(eps[keep], np.array(acc)[keep], **style)
        if u.config.repeats > 1 or u.source == "fleet-simulation":
            lo, hi = np.array(u.spread[n]).T
            a1.fill_between(z, lo, hi, color=style["color"], alpha=0.12, lw=0)
            a2.fill_between(eps[keep], lo[keep], hi[keep], color=style["color"], alpha=0.12, lw=0)
    for ax in (a1, a2):
        ax.axhline(u.initial_accuracy, color="#7f7f7f", ls=":", lw=1, label="initial head")
        ax.set_ylabel("test accuracy (FedAvg head)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    _noise_axis(a1, z)
    a1.set_xlabel("noise multiplier z")
    a1.axvline(report.configured_z, color="black", lw=1, alpha=0.6)
    a2.set_xscale("log")
    a2.set_xlabel("eps per release (RDP, replace)")
    if report.configured_z > 0:
        a2.axvline(epsilon(report.configured_z, 1, report.config.dp.delta), color="black", lw=1, alpha=0.6)
    a1.legend(fontsize=7)
    a1.set_title("accuracy against the noise (vertical line: configured z)")
    a2.set_title("accuracy against each device's eps per release")
    data_name = f"project {report.audited()['project']}" if u.config.project else "BasicMotions"
    simulated = u.source == "fleet-simulation"
    if simulated:
        data_name = f"{u.config.simulate_dataset} (recorded fleet simulations, statistics backbone)"
    fig.suptitle(f"privacy/utility on {data_name}, at most {u.config.rounds} rounds (each level stops at the "
                 f"device budget, eps_limit {u.config.eps_limit:g}), "
                 f"{u.config.samples_per_round} sample(s) per device and round; "
                 + ("one run per point, band: 95% interval over the test samples" if simulated else
                    f"mean of {u.config.repeats} fleet(s), band: min-max"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _dp_figure(report: Any, path: Path) -> Path | None:
    dp = report.dp
    if dp is None:
        return None
    plt = _plt()
    parts = [p for p in (dp.mechanism, dp.device) if p is not None]
    fig, axes = plt.subplots(1, len(parts) + 1, figsize=(4.6 * (len(parts) + 1), 3.6))
    bars: list[tuple[str, float]] = []
    for ax, part in zip(axes, parts):
        h = part.histogram
        edges = np.array(h["edges"])
        centers = (edges[:-1] + edges[1:]) / 2
        width = edges[1] - edges[0]
        ax.bar(centers, h["with_canary"], width=width, alpha=0.55, color=_COLORS[1], label="with the canary (D)")
        ax.bar(centers, h["without_canary"], width=width, alpha=0.55, color=_COLORS[0], label="without (D')")
        dist = part.distinguisher if hasattr(part, "distinguisher") else part.distinguishers[0]
        if math.isfinite(dist.threshold):
            ax.axvline(dist.threshold, color="black", lw=1, label="threshold (chosen on held-out part)")
        ax.set_yscale("log")
        ax.set_xlabel("projection on the canary direction (units of C)")
        ax.set_ylabel("releases")
        kind = "mechanism (ctypes, firmware C)" if part is dp.mechanism else f"whole firmware ({part.board} boards)"
        ax.set_title(f"{kind}: {part.trials_per_world} per world", fontsize=9)
        ax.legend(fontsize=7)
        if part is dp.mechanism:
            bars.append(("mechanism", part.eps_lower_bound))
        else:
            bars += [(f"device: {d.name}", d.eps_lower_bound) for d in part.distinguishers]
    ax = axes[-1]
    names = [b[0] for b in bars]
    ax.barh(names, [b[1] for b in bars], color=_COLORS[2])
    claim = (dp.mechanism or dp.device)
    ax.axvline(claim.claim_rdp, color=_COLORS[1], lw=1.5, label=f"claimed eps (RDP) {claim.claim_rdp:.2f}")
    ax.axvline(claim.claim_pld, color=_COLORS[3], lw=1.5, ls="--", label=f"claimed eps (PLD) {claim.claim_pld:.2f}")
    ax.axvline(0.5 * claim.claim_pld, color="#7f7f7f", lw=1, ls=":", label="half the PLD claim")
    ax.set_xlabel("eps lower bound (95%)")
    ax.set_title(f"eps_LB vs claim, z = {dp.config.noise_multiplier:g}, one release: {dp.verdict.upper()}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.3g}"
    return html.escape(str(v))


def _level_table(report: Any) -> str:
    rows = []
    for lv in report.levels:
        for s in lv.scores:
            base = "; ".join(f"{html.escape(k)} {v.estimate:.3f}"
                             + (f" (attack wins {s.signs[k].wins}, loses {s.signs[k].losses})" if k in s.signs else "")
                             for k, v in s.baselines.items())
            verdict = "beats every fair baseline" if s.beats_all else "-"
            rows.append(f"<tr><td>{lv.noise_multiplier:g}</td><td>{_fmt(lv.eps_rdp)}</td><td>{_LEAK_NAMES[s.leak]}</td>"
                        f"<td>{html.escape(s.metric)}</td><td>{html.escape(s.attack)}</td>"
                        f"<td>{html.escape(str(s.attack_interval))}</td><td>{base}</td><td>{verdict}</td></tr>")
    return ("<table><tr><th>z</th><th>eps/release</th><th>leak</th><th>metric</th><th>attack</th>"
            "<th>attack score [CI]</th><th>baselines</th><th>verdict</th></tr>" + "".join(rows) + "</table>")


def _dp_table(report: Any) -> str:
    dp = report.dp
    rows = []
    inv = ""
    for label, part in dp.parts():
        dists = [part.distinguisher] if part is dp.mechanism else part.distinguishers
        for d in dists:
            rows.append(f"<tr><td>{html.escape(label)}</td><td>{html.escape(d.name)}</td><td>{d.positives}+{d.negatives}</td>"
                        f"<td>{d.false_pos} / {d.false_neg}</td><td>{d.fpr_upper:.3g} / {d.fnr_upper:.3g}</td>"
                        f"<td>{d.eps_lower_bound:.3f}</td><td>{part.claim_rdp:.3f} / {part.claim_pld:.3f}</td></tr>")
        if part is not dp.mechanism:
            inv += (f"<p>Invariants, {html.escape(label)}:</p><ul>"
                    + "".join(f"<li>{'ok' if i.passed else '<b>FAIL</b>'}: {html.escape(i.name)} "
                              f"({html.escape(i.detail)}; limit {html.escape(i.limit)})</li>"
                              for i in part.invariants) + "</ul>")
    return ("<table><tr><th>part</th><th>test</th><th>held-out trials</th><th>FP / FN</th><th>FPR_U / FNR_U</th>"
            "<th>eps_LB</th><th>claim RDP / PLD</th></tr>" + "".join(rows) + "</table>" + inv)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
.leaks{background:#f8d7da;font-weight:bold}.protected{background:#d4edda}.fail{color:#b00020;font-weight:bold}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}code{background:#f4f4f4;padding:1px 3px}"""


def render(report: Any, out_dir: Path | str) -> Path:
    """Write report.html, report.json and the figures into out_dir; returns report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = report.to_dict()
    (out / "report.json").write_text(json.dumps(summary, indent=2, default=str))
    figures = {
        "dp_audit.png": _dp_figure(report, out / "dp_audit.png"),
        "leakage_vs_sigma.png": _metric_figure(report, out / "leakage_vs_sigma.png", "sigma") if report.levels else None,
        "leakage_vs_eps.png": _metric_figure(report, out / "leakage_vs_eps.png", "eps") if report.levels else None,
        "reconstructions.png": _reconstruction_figure(report, out / "reconstructions.png") if report.levels else None,
        "utility.png": _utility_figure(report, out / "utility.png"),
    }
    claimed = summary["claimed"]
    audited = summary["audited"]
    parts = [f"<h1>tinyfl privacy audit</h1>",
             f"<p>Audited: {html.escape(audited['data'])}; {html.escape(audited['backbone'])}"
             + (f" (project file <code>{html.escape(audited['path'])}</code>)" if audited.get("path") else "")
             + ".</p>",
             f"<p>Configured device: clip C = {report.config.dp.clip:g}, noise multiplier z = {report.configured_z:g}, "
             f"grid 2^{report.config.dp.grid_bits}, delta = {report.config.dp.delta:g}: eps "
             f"{_fmt(claimed['one_release_rdp'])} per release (RDP; PLD {_fmt(claimed['one_release_pld'])}), "
             f"budget {_fmt(claimed['budget_eps'])} over {claimed['releases_allowed']} releases "
             "(replace relation: any two local datasets of one device). How to read this report: docs/audit.md.</p>"]
    if summary["verdicts"]:
        cells = "".join(f"<td class='{v}'>{_LEAK_NAMES[k]}: {v}</td>" for k, v in summary["verdicts"].items())
        parts.append("<h2>Verdict per leak at the configured noise</h2><table><tr>" + cells + "</tr></table>")
    parts.append("<h2>Findings</h2><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in summary["findings"]) + "</ul>")
    if report.dp is not None:
        verdict = report.dp.verdict
        parts.append(f"<h2>DP audit of the release mechanism: <span class='{'protected' if verdict == 'pass' else 'fail'}'>"
                     f"{verdict.upper()}</span></h2><p>Runs with and without a canary sample (two updates 2C apart "
                     f"after clipping), audited at z = {report.dp.config.noise_multiplier:g}"
                     + (f", broken variant <code>{html.escape(report.dp.config.variant)}</code>" if report.dp.config.variant else "")
                     + "; eps_LB holds with 95% confidence and must not exceed the claim.</p>" + _dp_table(report))
        if figures["dp_audit.png"]:
            parts.append("<img src='dp_audit.png' alt='DP audit'>")
    data_name = f"project {audited['project']}" if audited.get("project") else "BasicMotions"
    if report.levels:
        lv0 = report.levels[0]
        parts.append(f"<h2>Attack audit</h2><p>{report.config.devices} emulated {html.escape(report.config.board)} devices, "
                     f"{report.config.rounds} rounds, {report.config.samples_per_round} sample(s) per update, "
                     f"{html.escape(_BACKBONE_NAMES.get(report.config.backbone, report.config.backbone))}: "
                     f"{lv0.n_updates} updates per noise level, each attacked with tinyfl.attack (auxiliary data: "
                     f"the held-out {html.escape(data_name)} windows). A leak is an attack beating every fair baseline beyond "
                     "the confidence interval.</p>")
        for name in ("leakage_vs_sigma.png", "leakage_vs_eps.png", "reconstructions.png"):
            if figures[name]:
                parts.append(f"<img src='{name}' alt='{name}'>")
        parts.append("<details><summary>every score</summary>" + _level_table(report) + "</details>")
    if report.utility is not None:
        parts.append("<h2>Privacy/utility</h2><p>" + html.escape(" ".join(report.utility.notes)) + "</p>")
        if figures["utility.png"]:
            parts.append("<img src='utility.png' alt='utility'>")
    parts.append("<details><summary>configuration and timings</summary><pre>"
                 + html.escape(json.dumps({"config": summary["config"], "seconds": summary["seconds"]}, indent=2, default=str))
                 + "</pre></details>")
    page = out / "report.html"
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>tinyfl privacy audit</title>"
                    f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")
    return page
