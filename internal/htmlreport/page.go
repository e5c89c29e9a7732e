package htmlreport

// pageText is the page template. Charts are inline SVG; every value is
// escaped by html/template for its context.
const pageText = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>batch report: {{.R.Status}}{{with .R.Input}} · {{.}}{{end}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;color:#222}
header{background:#263238;color:#fff;padding:14px 24px}
header h1{font-size:20px;margin:0 0 4px}
header .meta{color:#cfd8dc;font-size:13px;word-break:break-all}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px;padding:16px 24px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.12);padding:12px 16px}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 8px}
svg{width:100%;height:auto;display:block}
.timelines{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:8px 24px}
svg text{font:12px system-ui,sans-serif;fill:#333}
svg .axis{stroke:#90a4ae;stroke-width:1}
svg .grid{stroke:#eceff1;stroke-width:1}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eceff1;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.status-finished{color:#2e7d32;font-weight:600}
.status-stopped{color:#ef6c00;font-weight:600}
.status-failed{color:#c62828;font-weight:600}
.none{color:#78909c}
.kpis{display:flex;flex-wrap:wrap;gap:20px}
.kpi b{display:block;font-size:20px}
.lines{color:#546e7a;word-break:break-all}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
</style>
</head>
<body>
<header>
<h1>batch report: <span class="status-{{.R.Status}}" id="status">{{.R.Status}}</span></h1>
<div class="meta">input {{.R.Input}} → output {{.R.Output}}{{with .R.Rejects}} · rejects {{.}}{{end}}</div>
<div class="meta">stages: {{range $i, $s := .R.Stages}}{{if $i}}, {{end}}{{$s}}{{else}}local checks only{{end}} · job started {{stamp .R.JobStartedAt}} · report of {{.Generated}}{{with .R.Job}} · job {{short .}}{{end}}</div>
{{with .R.Error}}<div class="meta">last run: {{.}}</div>{{end}}
</header>
<main>
<section class="wide">
<h2>Summary</h2>
<div class="kpis" id="kpis">
<div class="kpi"><b data-kpi="rows_done">{{.R.Rows.Done}}</b>rows done</div>
<div class="kpi"><b data-kpi="final">{{.R.Rows.Final}}</b>final</div>
<div class="kpi"><b data-kpi="retryable">{{.R.Rows.Retryable}}</b>retryable</div>
<div class="kpi"><b data-kpi="pending">{{.R.Rows.Pending}}</b>pending</div>
<div class="kpi"><b data-kpi="rejected">{{.R.Rows.Rejected}}</b>rejected</div>
<div class="kpi"><b data-kpi="paid">{{.R.PaidInAll}}</b>paid calls (all runs)</div>
<div class="kpi"><b data-kpi="retries">{{.R.RetriesAll}}</b>retries</div>
<div class="kpi"><b data-kpi="http_429">{{.R.HTTP429All}}</b>429s</div>
<div class="kpi"><b data-kpi="runs">{{len .R.Runs}}</b>runs, {{seconds .R.JobDurationS}} in all</div>
</div>
</section>
<section>
<h2>Verdicts</h2>
{{template "bars" .Verdicts}}
</section>
<section>
<h2>Rows by state</h2>
{{template "bars" .States}}
</section>
<section>
<h2>Spend by endpoint, and what was not paid for</h2>
{{template "bars" .Spend}}
</section>
<section>
<h2>Top domains{{if not .R.DomainsComplete}}{{if .R.TopDomains}} (incomplete: a run crashed before it recorded its rows){{end}}{{end}}</h2>
{{template "bars" .Domains}}
</section>
<section class="wide">
<h2>Calls and 429s over time (cumulative, per run)</h2>
<div class="legend"><span><i class="sw" style="background:#1e88e5"></i>calls (left axis)</span><span><i class="sw" style="background:#e53935"></i>429s (right axis)</span></div>
<div class="timelines">
{{range .Timelines}}
<svg data-chart="timeline" data-run="{{.Run}}" data-calls="{{.Calls}}" data-http429="{{.HTTP429}}" data-samples="{{.Samples}}" viewBox="0 0 600 220" role="img" aria-label="run {{.Run}}: calls and 429s over time">
<text x="{{.X0}}" y="12">run {{.Run}}: {{.Calls}} calls, {{.HTTP429}} 429s</text>
<line class="grid" x1="{{.X0}}" y1="{{.YMid}}" x2="560" y2="{{.YMid}}"/>
<line class="axis" x1="{{.X0}}" y1="{{.Y0}}" x2="560" y2="{{.Y0}}"/>
<line class="axis" x1="560" y1="16" x2="560" y2="{{.Y0}}"/>
<text x="564" y="20" style="fill:#e53935">{{.Y429Max}}</text>
<text x="564" y="{{.Y0}}" style="fill:#e53935">0</text>
<line class="axis" x1="{{.X0}}" y1="16" x2="{{.X0}}" y2="{{.Y0}}"/>
<text x="50" y="20" text-anchor="end">{{.YMax}}</text>
<text x="50" y="{{.YMid}}" text-anchor="end">{{.YMidLabel}}</text>
<text x="50" y="{{.Y0}}" text-anchor="end">0</text>
<text x="{{.X0}}" y="202" text-anchor="middle">0 s</text>
<text x="{{.XMid}}" y="202" text-anchor="middle">{{.XMidLabel}}</text>
<text x="560" y="202" text-anchor="middle">{{.XMax}}</text>
{{if .CallsPts}}<polyline data-series="calls" fill="none" stroke="#1e88e5" stroke-width="2" points="{{.CallsPts}}"/>
<polyline data-series="http_429" fill="none" stroke="#e53935" stroke-width="2" points="{{.ThrottledPts}}"/>{{else}}<text x="300" y="110" text-anchor="middle" class="none">no samples</text>{{end}}
</svg>
{{else}}<p class="none">No run recorded.</p>{{end}}
</div>
</section>
<section class="wide">
<h2>Reject reasons</h2>
{{if .R.RejectReasons}}<table id="rejects"><thead><tr><th>reason</th><th class="n">rows</th><th>input lines</th></tr></thead><tbody>
{{range .R.RejectReasons}}<tr data-reason="{{.Reason}}" data-rows="{{.Rows}}"><td>{{.Reason}}</td><td class="n">{{.Rows}}</td><td class="lines">{{range $i, $l := .Lines}}{{if $i}}, {{end}}{{$l}}{{end}}{{if gt .Rows (len64 .Lines)}} …{{end}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="none">No rows rejected.</p>{{end}}
</section>
<section class="wide">
<h2>Run history</h2>
<table id="runs"><thead><tr><th class="n">#</th><th>started</th><th>ended</th><th class="n">duration</th><th>status</th><th class="n">rows</th><th class="n">%</th><th class="n">calls</th><th class="n">paid</th><th class="n">retries</th><th class="n">429s</th><th class="n">pid</th></tr></thead><tbody>
{{range .Runs}}<tr data-run="{{.N}}" data-status="{{.Status}}" data-calls="{{.Calls}}" data-paid="{{.Paid}}"><td class="n">{{.N}}</td><td>{{.Started}}</td><td>{{.Ended}}</td><td class="n">{{.Duration}}</td><td class="status-{{.Status}}"{{with .Error}} title="{{.}}"{{end}}>{{.Status}}</td><td class="n">{{.RowsFrom}}–{{.RowsTo}}</td><td class="n">{{.Percent}}</td><td class="n">{{.Calls}}</td><td class="n">{{.Paid}}</td><td class="n">{{.Retries}}</td><td class="n">{{.HTTP429}}</td><td class="n">{{.PID}}</td></tr>
{{end}}</tbody></table>
</section>
</main>
</body>
</html>
{{define "bars"}}{{if .Bars}}<svg data-chart="{{.Name}}" data-total="{{.Total}}" viewBox="0 0 600 {{.Height}}" role="img">
{{range .Bars}}<g data-label="{{.Label}}" data-value="{{.Value}}"{{with .Group}} data-group="{{.}}"{{end}}><title>{{.Label}}: {{.Value}}</title>
<text x="164" y="{{add .Y 13}}" text-anchor="end">{{.Short}}</text>
<rect x="170" y="{{.Y}}" width="{{printf "%.1f" .W}}" height="16" rx="2" fill="{{.Color}}"/>
<text x="{{printf "%.1f" (addf .W 176)}}" y="{{add .Y 13}}">{{.Value}}</text></g>
{{end}}</svg>{{else}}<p class="none">Nothing to show.</p>{{end}}{{end}}
`
