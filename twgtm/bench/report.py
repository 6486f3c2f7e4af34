"""The benchmark's result as markdown tables (memory in decimal GB / MB, times in ms)."""
from __future__ import annotations


def _ms(x) -> str:
    return "–" if x is None else f"{x * 1e3:,.1f}"


def _x(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _mb(x) -> str:
    return "–" if x is None else f"{x / 1e6:,.0f}"


def _gb(x) -> str:
    return "–" if x is None else f"{x / 1e9:.2f}"


def _variant(step: dict, name: str) -> str:
    """Time ratio to the backbone, and the FLOP ratio in brackets, of a TWGTM variant."""
    if f"{name}_ratio" not in step:
        return "–"
    flops = step.get("flops", {})
    bracket = f" ({flops[f'twgtm_{name}'] / flops['backbone']:.4f})" if f"twgtm_{name}" in flops else ""
    return f"{step[f'{name}_ratio']:.3f}{bracket}"


def markdown(r: dict) -> str:
    """Tables of per-step costs, the other figures, and the targets."""
    m = r["machine"]
    where = m.get("gpu") or f"{m['cpu']} ({m['cpu_cores']} cores, {m['torch_threads']} torch threads)"
    calls = r["settings"].get("call_repeats")
    lines = [f"**TWGTM benchmark** — preset `{r['preset']}`, {r['device']} {r['dtype']}, {where}, torch {m['torch']}; "
             f"random weights built in {r['build_s']:.1f} s; median of {r['settings']['repeats']} interleaved repeats"
             f"{f' ({calls} for whole calls)' if calls else ''}.", ""]
    lines += ["| latent (canvas px) | batch (UNet rows) | backbone ms | TWGTM ms | step ratio | FLOP ratio "
              "| K′/V′ recomputed: ratio (FLOPs) | null rows not skipped: ratio (FLOPs) | peak extra MB (backbone / TWGTM) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in r["steps"]:
        lines.append(
            f"| {s['latent'][0]}×{s['latent'][1]} ({s['canvas_px'][0]}×{s['canvas_px'][1]}) | {s['batch']} ({s['unet_batch']}) "
            f"| {_ms(s['backbone']['median_s'])} | {_ms(s['twgtm']['median_s'])} | {_x(s['step_ratio'])} "
            f"| {_x(s.get('flop_ratio'), 4)} | {_variant(s, 'nocache')} | {_variant(s, 'noskip')} "
            f"| {_mb(s['backbone'].get('peak_extra_bytes'))} / {_mb(s['twgtm'].get('peak_extra_bytes'))} |")
    lines += ["", "| figure | value |", "|---|---|"]
    main = r["steps"][0] if r["steps"] else {}
    if "twgtm_classic" in main:
        classic = main["twgtm_classic"]["median_s"]
        lines.append(f"| classic attention instead of SDPA: backbone / TWGTM step "
                     f"| {_ms(main['backbone_classic']['median_s'])} / {_ms(classic)} ms "
                     f"(×{_x(classic / main['twgtm']['median_s'], 2)} the SDPA TWGTM step) |")
    if "encoders" in r:
        e = r["encoders"]
        flops = f", {_x(e.get('flop_backbone_steps'), 2)} in FLOPs" if "flop_backbone_steps" in e else ""
        lines.append(f"| SAM + SRM once (batch {e['batch']}) | {_ms(e['timing']['median_s'])} ms = "
                     f"{_x(e['backbone_steps'], 2)} backbone steps{flops} |")
        lines.append(f"| SAM + SRM from the encoder cache (hit) | {_ms(e['cache_hit']['median_s'])} ms |")
    if "calls" in r:
        c = r["calls"]
        for task in ("tryon", "tryoff"):
            t = c[task]
            peak = ""
            if "peak_extra_bytes" in t["batched"]:
                peak = (f"; peak extra {_mb(t['batched']['peak_extra_bytes'])} / "
                        f"{_mb(t['sequential']['peak_extra_bytes'])} MB")
            lines.append(f"| `{task}` {c['person_px'][0]}×{c['person_px'][1]}, {c['steps']} steps: CFG batched / sequential "
                         f"| {_ms(t['batched']['median_s'])} / {_ms(t['sequential']['median_s'])} ms "
                         f"(sequential ×{_x(t['sequential_over_batched'], 2)}){peak} |")
    mem = r.get("memory", {})
    lines.append(f"| parameters ({r['dtype']}) | {r['parameters'] / 1e6:,.1f} M, {_gb(r['parameters_bytes'])} GB |")
    for key in ("estimate", "estimate_vae_tiling"):
        if key in mem:
            e = mem[key]
            phases = ", ".join(f"{k} {_gb(v)}" for k, v in e["phases_bytes"].items() if k != "held_features")
            lines.append(f"| estimated peak GPU memory, {e['person'][0]}×{e['person'][1]} try-on, {e['dtype']}, CFG batched"
                         f"{', VAE tiling' if e.get('vae_tiling') else ''} | {_gb(e['total_bytes'])} GB = parameters "
                         f"{_gb(e['parameters_bytes'])} + activations {_gb(e['activation_peak_bytes'])} (per phase: {phases}) |")
    for key in ("measured_tryon", "measured_tryon_vae_tiling"):
        if key in mem:
            t = mem[key]
            lines.append(f"| measured {t['person'][0]}×{t['person'][1]} try-on, {t['dtype']}, {t['steps']} steps"
                         f"{', VAE tiling' if t.get('vae_tiling') else ''} | {_ms(t['seconds'])} ms, peak "
                         f"{_gb(t['peak_bytes'])} GB ({t['peak_kind']}) |")
    if mem.get("formula_check"):
        lines += ["", "| person (canvas) | batch | CFG | measured activation peak MB | formula MB | formula error |",
                  "|---|---:|---|---:|---:|---:|"]
        for row in mem["formula_check"]:
            lines.append(f"| {row['person'][0]}×{row['person'][1]} ({row['canvas'][0]}×{row['canvas'][1]}) "
                         f"| {row['batch']} | {'batched' if row['cfg_batched'] else 'sequential'} "
                         f"| {_mb(row['measured_extra_bytes'])} | {_mb(row['estimated_bytes'])} "
                         f"| {row['relative_error'] * 100:+.0f} % |")
    lines += ["", "| target | value | met |", "|---|---:|---|"]
    for name, t in r["targets"].items():
        lines.append(f"| {name} | {_x(t['value'])} | {'–' if t['ok'] is None else ('yes' if t['ok'] else 'no')} |")
    for name, error in r.get("errors", {}).items():
        lines.append(f"\n**{name} failed:** {error}")
    return "\n".join(lines) + "\n"
