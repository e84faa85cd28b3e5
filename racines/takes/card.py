"""The apparatus card of a take as text, from its manifest: for ``racines provenance --apparatus``
and the dailies. The card itself is made by the generator (``apparatus`` in the manifest)."""

from __future__ import annotations

import json


def size(parameters: int | None) -> str:
    if parameters is None:
        return "size unknown"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if parameters >= scale:
            return f"{parameters / scale:.3g} {unit} parameters ({parameters:,})"
    return f"{parameters} parameters"


def cost_line(cost: dict) -> str:
    if not cost.get("method"):
        return "cost         not recorded (a take made before costs were)"
    return (f"cost         {cost['wall_s']:.1f} s, {cost['gpu_seconds']:.1f} GPU-seconds, about {cost['joules']:.0f} J "
            f"({cost['method']}{', estimate' if cost.get('estimate') else ''} on {cost.get('device', '?')}: "
            f"{cost.get('scope', '')})")


def card_lines(manifest: dict) -> list[str]:
    card = manifest.get("apparatus") or {}
    lines = [f"apparatus of shot {manifest['shot']} take {manifest['take']}"]
    if not card:
        return lines + ["  no card: a take made before cards were recorded; render it again for one",
                        cost_line(manifest.get("cost") or {})]
    lines[0] += f" ({card['generator']} {card['version']})"
    if not card.get("weights"):
        lines.append("  no model weights: the pictures come from racines' own code")
    for index, run in enumerate(card.get("runs", []), 1):
        model = run["model"]
        lines += [f"run {index}    {run['pipeline']} from {model['source']}",
                  f"  licence    {model['licence']}; training data: {model['training_data']}",
                  f"  card       {model['model_card'] or '-'}"]
        for step, part in enumerate(run["chain"], 1):
            if part["role"] == "scheduler":
                config = json.dumps(part["config"], sort_keys=True)
                lines.append(f"  {step}. scheduler {part['class']} {config[:300]}")
            else:
                lines.append(f"  {step}. {part['role']:<14} {part.get('component', '')} {part.get('class', '')} "
                             f"{size(part.get('parameters'))} {part.get('dtype', '')}".rstrip())
        lines.append(f"  in all     {size(run['parameters'])}; seed {run['seed']}, {run['steps']} steps")
        prompt = run["prompt"]
        lines.append(f"  prompt     as written: {prompt['written'] or '-'}")
        if prompt.get("enhanced"):
            lines.append(f"             as enhanced: {prompt['enhanced']}")
        if prompt.get("system_message"):
            lines.append(f"             wrapped in the pipeline's own instructions: {prompt['system_message']}")
        for encoder in prompt.get("encoders", []):
            lines.append(f"  {encoder['encoder']} (window {encoder['window']} tokens) read: {encoder['received']}")
            if encoder["truncated"]:
                lines.append(f"    CUT OFF {encoder['truncated']} tokens: {encoder['lost_text']}")
    for part in card.get("after", []):
        lines.append(f"then         {part['role']}: {part['component']}" +
                     (f" ({part['does']})" if part.get("does") else "") + (f", {part['uses']}" if part.get("uses") else ""))
    xray = (manifest.get("generation") or {}).get("xray") or next(
        (run["xray"] for run in (manifest.get("generation") or {}).get("runs", []) if run.get("xray")), None)
    if xray:
        lines.append(f"x-ray        {xray['tiles']} states, every {xray['every']} of {xray['steps']} steps "
                     f"({xray['preview']}) in {xray['strip']}")
    return lines + [cost_line(manifest.get("cost") or {})]
