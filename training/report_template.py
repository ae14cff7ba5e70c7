"""The model report's HTML (a Jinja2 template, autoescaped; one file with its images inside)."""

from typing import Final

TEMPLATE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .6em 0; } td, th { padding: .2em .6em; }
th { text-align: left; background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.warn { background: #fff3cd; border: 1px solid #e0c060; padding: .8em 1em; }
.person { color: #8a4b00; font-weight: 600; } .software { color: #225f22; }
.verdict { font-weight: 600; } img { max-width: 100%; border: 1px solid #ddd; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="warn">{{ disclaimer }}</p>
<p>Run <code>{{ run_id }}</code> of experiment <code>{{ experiment }}</code>,
started {{ started }}; code <code>{{ commit }}</code>.
{% if registered %}Registered as <code>{{ registered }}</code>.{% endif %}</p>

<h2 id="items">TRIPOD+AI items</h2>
<p>Items of the TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378), numbered as
summarised in the project's notes: check the numbers against the BMJ table before citing.
<span class="software">Software</span> items are filled from the run below;
<span class="person">a person must write</span> the others.</p>
<table><tr><th>item</th><th>topic</th><th>filled by</th><th>where / what</th></tr>
{% for it in items %}<tr><td>{{ it.item }}</td><td>{{ it.topic }}</td>
<td class="{{ it.who }}">{{ "software" if it.who == "software" else "a person must write" }}</td>
<td>{% if it.anchor %}<a href="#{{ it.anchor }}">{{ it.text }}</a>{% else %}{{ it.text }}{% endif %}
</td></tr>
{% endfor %}</table>

<h2 id="data">Data source and dates (5a, 5b)</h2>
<table>{% for k, v in source %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
<table><tr><th>set</th><th>first treatment</th><th>last treatment</th></tr>
{% for name, span in dates %}<tr><td>{{ name }}</td><td>{{ span[0] }}</td><td>{{ span[1] }}</td>
</tr>{% endfor %}</table>

<h2 id="flow">Participant flow and events (20a, 10, 21)</h2>
<table>{% for k, v in flow %}<tr><th>{{ k }}</th><td class="n">{{ v }}</td></tr>{% endfor %}
</table>
<table><tr><th>outcome</th>{% for s in sets %}<th>{{ s }} events</th>{% endfor %}</tr>
{% for name, by_set in events %}<tr><td>{{ name }}</td>{% for s in sets %}
<td class="n">{{ by_set[s] }}</td>{% endfor %}</tr>{% endfor %}</table>

<h2 id="characteristics">Characteristics, development against evaluation (20b, 16)</h2>
<table><tr><th></th>{% for s in sets %}<th>{{ s }}</th>{% endfor %}</tr>
{% for name, by_set in characteristics %}<tr><td>{{ name }}</td>{% for s in sets %}
<td class="n">{{ by_set.get(s, "") }}</td>{% endfor %}</tr>{% endfor %}</table>

<h2 id="missing">Missing values per field (11)</h2>
<p>{{ missing_handling }}</p>
<table><tr><th>field</th>{% for s in sets %}<th>{{ s }}: empty</th>{% endfor %}</tr>
{% for name, by_set in missing %}<tr><td><code>{{ name }}</code></td>{% for s in sets %}
<td class="n">{{ by_set[s] }}</td>{% endfor %}</tr>{% endfor %}</table>

<h2 id="predictors">Predictors (9)</h2>
<p>{{ predictors_text }}</p>
<table>{% for k, v in predictors %}<tr><th>{{ k }}</th><td class="n">{{ v }}</td></tr>
{% endfor %}</table>

<h2 id="methods">Model, tuning and internal validation (12, 13)</h2>
<ul>{% for line in methods %}<li>{{ line }}</li>{% endfor %}</ul>
<table>{% for k, v in tuning %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>

<h2 id="performance">Performance on the evaluation period (23a)</h2>
<p>95% intervals: bootstrap of the evaluation rows (200 resamples, seed 0; the C-index an
m-out-of-n bootstrap), the calibration slope's Wald interval.
{% if simulated %}The oracle is the simulator's true pre-treatment probability (median days):
the best any model could do.{% endif %}</p>
<table><tr><th>model</th><th>measure</th><th>value</th><th>95% interval</th>
{% if simulated %}<th>oracle</th>{% endif %}</tr>
{% for r in performance %}<tr><td>{{ r.model }}</td><td>{{ r.measure }}</td>
<td class="n">{{ r.value }}</td><td class="n">{{ r.interval }}</td>
{% if simulated %}<td class="n">{{ r.oracle }}</td>{% endif %}</tr>
{% endfor %}</table>

<h2 id="baseline">Against the plain baseline</h2>
<p class="verdict">{{ verdict }}</p>
<p>The plain baseline is a LightGBM of visible asymmetry on raw per-(muscle, side) units,
point counts and mean coordinates and the patient's fields (no anatomy), fitted by the same
procedure on the same rows.</p>
<table><tr><th>measure</th><th>risk model</th><th>plain baseline</th><th>comparison</th>
<th>95% interval</th></tr>
{% for r in baseline %}<tr><td>{{ r.measure }}</td><td class="n">{{ r.model }}</td>
<td class="n">{{ r.plain }}</td><td class="n">{{ r.comparison }}</td>
<td class="n">{{ r.interval }}</td></tr>{% endfor %}</table>

<h2 id="plots">Calibration, discrimination, decision curve (23a, 12)</h2>
{% for name, uri in images %}<figure><img src="{{ uri }}" alt="{{ name }}">
<figcaption>{{ name }}</figcaption></figure>{% endfor %}

<h2 id="subgroups">Subgroups (14, 23b)</h2>
<p>Asymmetry risk by sex, ancestry, product and clinic on the evaluation period; groups under
100 reviews, or with one outcome only, are left out.</p>
<table><tr><th>group</th><th>value</th><th>reviews</th><th>AUC</th><th>Brier</th></tr>
{% for r in subgroups %}<tr><td>{{ r.group }}</td><td>{{ r.label }}</td>
<td class="n">{{ r.n }}</td><td class="n">{{ r.auc }}</td><td class="n">{{ r.brier }}</td></tr>
{% endfor %}</table>

<h2 id="output">Model output, specification and updating (15, 22, 24, 27a)</h2>
<ul>{% for line in output %}<li>{{ line }}</li>{% endfor %}</ul>

<h2 id="open">Open science (18)</h2>
<table>{% for k, v in open_science %}<tr><th>{{ k }}</th><td><code>{{ v }}</code></td></tr>
{% endfor %}</table>

<h2 id="limitations">Limitations (26)</h2>
<ul>{% for line in limitations %}<li>{{ line }}</li>{% endfor %}</ul>
<p class="person">A person must write the interpretation (25) and the rest of the
limitations.</p>
</body></html>
"""
