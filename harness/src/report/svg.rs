//! Charts for the HTML and Markdown reports, as inline SVG. This module owns pure functions from chart data
//! ([`BarChart`], [`Timeline`]) to SVG text, and nothing else: no I/O, no state, std only. The same input always
//! gives byte-identical output (coordinates with one decimal, input order only), so charts can be
//! snapshot-tested; all text is escaped, and no NaN or infinity ever reaches the output.

use std::fmt::Write;

/// One named series of a bar chart: a value per group, None where it was not measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Names the series in the legend, next to its colour.
    pub name: String,
    /// One value per group, in the order of [`BarChart::groups`]; `None` (or a missing tail) is drawn as "n/a".
    pub values: Vec<Option<f64>>,
}

/// A grouped bar chart: one cluster per group, one bar per series in each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BarChart {
    /// The heading above the chart, and its accessible `<title>`.
    pub title: String,
    /// What the y axis measures, with its unit (e.g. "MB/s echoed"), so the numbers can be read.
    pub y_label: String,
    /// One label per cluster of bars, left to right (e.g. "stream, 16 conns, 64 KiB").
    pub groups: Vec<String>,
    /// The things compared (servers, builds): one bar per group and one legend entry each.
    pub series: Vec<Series>,
}

/// A failing run's timeline: per connection, cumulative bytes sent and echoed over simulated time, with fault
/// markers and the point where a property broke.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// The heading above the chart, and its accessible `<title>`.
    pub title: String,
    /// When the run ended, in simulated seconds: the right end of the time axis (1.0 if not positive).
    pub end_s: f64,
    /// One band per connection, top to bottom, so progress can be compared across connections.
    pub lanes: Vec<Lane>,
    /// Injected faults and other events, drawn as dashed lines across all bands to line them up with stalls.
    pub markers: Vec<Marker>,
    /// Where the checked property broke, drawn as a solid red line; `None` when no point in time is known.
    pub broke: Option<Marker>,
}

/// One connection's band in a [`Timeline`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lane {
    /// Names the connection at the band's left, e.g. "client-0 conn 1".
    pub label: String,
    /// Cumulative bytes the client had sent, as (time s, bytes) points in time order.
    pub sent: Vec<(f64, u64)>,
    /// Cumulative bytes echoed back, in the same form; its gap to `sent` is data in flight or lost.
    pub echoed: Vec<(f64, u64)>,
}

/// An event on a [`Timeline`]: a vertical line with a short label at the top.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// When it happened, in simulated seconds; clamped to the time axis.
    pub at_s: f64,
    /// Short text written at the top of the line, e.g. "partition c0|srv".
    pub label: String,
    /// What happened, which picks the line's colour and its legend entry.
    pub kind: MarkerKind,
}

/// The kinds of timeline events; each is drawn in its own colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    /// A link cut (partition, random failure) or its repair.
    Partition,
    /// A hold of a link's bytes, or its release.
    Hold,
    /// The server crashed, stopped, started or bounced.
    Restart,
    /// A connection reset: by a client, or a link given up.
    Reset,
    /// A connection closed: by a client on purpose, or by the server first.
    Close,
    /// Anything else: a refused connect, a failed run.
    Other,
}

impl MarkerKind {
    const ALL: [MarkerKind; 6] = [Self::Partition, Self::Hold, Self::Restart, Self::Reset, Self::Close, Self::Other];

    /// The kind's legend name and line colour.
    fn style(self) -> (&'static str, &'static str) {
        match self {
            Self::Partition => ("partition", "#CC79A7"),
            Self::Hold => ("hold", "#009E73"),
            Self::Restart => ("restart", "#56B4E9"),
            Self::Reset => ("reset", "#D55E00"),
            Self::Close => ("close", "#555555"),
            Self::Other => ("other", "#999999"),
        }
    }
}

const MARGIN: f64 = 16.0;
const TITLE_H: f64 = 36.0;
const TEXT_SIZE: f64 = 11.0;
const SMALL_SIZE: f64 = 10.0;
/// Average glyph width of a sans-serif font, in em: used to estimate how much room a text needs.
const CHAR_W: f64 = 0.6;
const LINE_H: f64 = 13.0;
const LEGEND_ROW_H: f64 = 20.0;
const SWATCH_W: f64 = 14.0;
const INK: &str = "#222222";
const AXIS: &str = r##"stroke="#555555""##;
const GRID: &str = r##"stroke="#DDDDDD""##;
const MUTED: &str = r##"fill="#777777""##;

const MIN_WIDTH: f64 = 640.0;
const PLOT_H: f64 = 260.0;
const VALUE_ROOM: f64 = 18.0;
const GROUP_GAP: f64 = 20.0;
const MIN_GROUP_W: f64 = 96.0;
const BAR_MIN_W: f64 = 20.0;
const BAR_MAX_W: f64 = 48.0;
const GROUP_LABEL_LINES: usize = 3;
/// Okabe–Ito colours, told apart under the common colour-vision deficiencies; reused in order past eight series.
const PALETTE: [&str; 8] = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"];

const TL_WIDTH: f64 = 880.0;
const LANE_LABEL_W: f64 = 130.0;
const BYTES_W: f64 = 72.0;
const BAND_H: f64 = 48.0;
const BAND_GAP: f64 = 8.0;
const BAND_PAD: f64 = 6.0;
const MARKER_ROWS: usize = 5;
const MARKER_ROW_H: f64 = 12.0;
const MARKER_LABEL_CHARS: usize = 28;
const AXIS_H: f64 = 40.0;
const SENT: &str = r##"stroke="#0072B2" stroke-width="3" stroke-opacity="0.6""##;
const ECHOED: &str = r##"stroke="#E69F00" stroke-width="1.5""##;
const DASHED: &str = r#"stroke-width="1.5" stroke-dasharray="4 3""#;
const BROKE: &str = "#D00000";
/// A white outline behind text, so it stays readable where it crosses lines.
const HALO: &str = r##"stroke="#FFFFFF" stroke-width="3" paint-order="stroke""##;

fn palette(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Renders a grouped bar chart as a complete `<svg>` element.
pub fn bar_chart(chart: &BarChart) -> String {
    let n_groups = chart.groups.len();
    let cell = |s: &Series, g: usize| s.values.get(g).copied().flatten().map(clamp_value);
    let cells: Vec<Vec<Option<f64>>> =
        chart.series.iter().map(|s| (0..n_groups).map(|g| cell(s, g)).collect()).collect();
    let present = || cells.iter().flatten().flatten().copied();
    let y_max = nice_max(present().fold(0.0, f64::max));
    let ticks = axis_ticks(y_max, y_max);
    let chars = |v: &f64| fmt_number(*v).chars().count();
    let left = MARGIN + 28.0 + text_w(ticks.iter().map(chars).max().unwrap_or(1), TEXT_SIZE);
    let n_series = cells.len().max(1) as f64;
    let bar_need = (text_w(present().map(|v| chars(&v)).max().unwrap_or(0), SMALL_SIZE) + 4.0).max(BAR_MIN_W);
    let plot_w = (MIN_WIDTH - left - MARGIN).max((bar_need * n_series + GROUP_GAP).max(MIN_GROUP_W) * n_groups as f64);
    let width = left + plot_w + MARGIN;

    let mut svg = Svg::default();
    let has_data = present().next().is_some();
    let swatch = |i| format!(r#"stroke="{}" stroke-width="10""#, palette(i));
    let entries: Vec<(String, String)> =
        chart.series.iter().enumerate().map(|(i, s)| (truncate(&s.name, 40), swatch(i))).collect();
    let legend_rows = if has_data { svg.legend(&entries, left, width - MARGIN) } else { 0 };
    let plot_top = TITLE_H + legend_rows as f64 * LEGEND_ROW_H + VALUE_ROOM;
    let (plot_bottom, mid_y) = (plot_top + PLOT_H, plot_top + PLOT_H / 2.0);
    let rotate = format!(r#"text-anchor="middle" transform="rotate(-90 {} {})""#, px(MARGIN + 10.0), px(mid_y));
    svg.text((MARGIN + 10.0, mid_y), &rotate, &chart.y_label);
    let group_w = plot_w / n_groups.max(1) as f64;
    let label_chars = ((group_w - 6.0) / (TEXT_SIZE * CHAR_W)) as usize;
    let mut label_lines = 0;
    for (g, group) in chart.groups.iter().enumerate() {
        let lines = wrap(group, label_chars, GROUP_LABEL_LINES);
        for (i, line) in lines.iter().enumerate() {
            let y = plot_bottom + 8.0 + (i + 1) as f64 * LINE_H;
            svg.text((left + (g as f64 + 0.5) * group_w, y), r#"text-anchor="middle""#, line);
        }
        label_lines = label_lines.max(lines.len());
    }
    let height = plot_bottom + 8.0 + label_lines as f64 * LINE_H + MARGIN;
    let names = chart.series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    let desc = format!("Bar chart of {} for {n_groups} group(s), a bar per series ({names}).", chart.y_label);
    if !has_data {
        svg.rect((left, plot_top), (plot_w, PLOT_H), &format!(r#"fill="none" {AXIS}"#));
        svg.text((left + plot_w / 2.0, mid_y), &format!(r#"text-anchor="middle" {MUTED}"#), "no data");
        return svg.finish(width, height, &chart.title, &desc);
    }
    for v in &ticks {
        let y = plot_bottom - v / y_max * PLOT_H;
        svg.line((left, y), (left + plot_w, y), GRID);
        svg.text((left - 6.0, y + 4.0), r#"text-anchor="end""#, &fmt_number(*v));
    }
    let bar_w = ((group_w - GROUP_GAP) / n_series).min(BAR_MAX_W);
    let small = format!(r#"text-anchor="middle" font-size="{SMALL_SIZE}""#);
    for g in 0..n_groups {
        let x0 = left + g as f64 * group_w + (group_w - bar_w * n_series) / 2.0;
        for (s, row) in cells.iter().enumerate() {
            let cx = x0 + (s as f64 + 0.5) * bar_w;
            let Some(v) = row[g] else {
                svg.text((cx, plot_bottom - 4.0), &format!(r#"{small} {MUTED} font-style="italic""#), "n/a");
                continue;
            };
            let h = (v / y_max).min(1.0) * PLOT_H;
            svg.rect((cx - bar_w / 2.0 + 1.0, plot_bottom - h), (bar_w - 2.0, h), &format!(r#"fill="{}""#, palette(s)));
            svg.text((cx, plot_bottom - h - 3.0), &small, &fmt_number(v));
        }
    }
    svg.line((left, plot_top), (left, plot_bottom), AXIS);
    svg.line((left, plot_bottom), (left + plot_w, plot_bottom), AXIS);
    svg.finish(width, height, &chart.title, &desc)
}

/// A vertical line across the timeline's bands with its label: a marker, or the point where the property broke.
/// [`stagger`] sets the label's `row` above the bands, and `leftwards` when it must go left of its line.
struct Flag {
    x: f64,
    label: String,
    colour: &'static str,
    broke: bool,
    row: usize,
    leftwards: bool,
}

/// Renders a run's timeline as a complete `<svg>` element.
pub fn timeline(t: &Timeline) -> String {
    let end = if t.end_s.is_finite() && t.end_s > 0.0 { t.end_s } else { 1.0 };
    let (left, right) = (MARGIN + LANE_LABEL_W, TL_WIDTH - MARGIN - BYTES_W);
    let x_of = |s: f64| left + clamp_time(s, end) / end * (right - left);
    let mut entries = vec![("sent".to_string(), SENT.to_string()), ("echoed".into(), ECHOED.into())];
    let kinds = MarkerKind::ALL.iter().filter(|k| t.markers.iter().any(|m| m.kind == **k)).map(|k| k.style());
    entries.extend(kinds.map(|(name, colour)| (name.to_string(), format!(r#"stroke="{colour}" {DASHED}"#))));
    entries.extend(t.broke.iter().map(|_| ("property broke".into(), format!(r#"stroke="{BROKE}" stroke-width="2""#))));
    let mut svg = Svg::default();
    let flags_top = TITLE_H + svg.legend(&entries, MARGIN, TL_WIDTH - MARGIN) as f64 * LEGEND_ROW_H;

    let flag = |m: &Marker, broke: bool| {
        let colour = if broke { BROKE } else { m.kind.style().1 };
        Flag { x: x_of(m.at_s), label: truncate(&m.label, MARKER_LABEL_CHARS), colour, broke, row: 0, leftwards: false }
    };
    let mut flags: Vec<Flag> =
        t.markers.iter().map(|m| flag(m, false)).chain(t.broke.iter().map(|b| flag(b, true))).collect();
    flags.sort_by(|a, b| a.x.total_cmp(&b.x));
    stagger(&mut flags, TL_WIDTH - MARGIN);
    let plot_top = flags_top + flags.iter().map(|f| f.row + 1).max().unwrap_or(0) as f64 * MARKER_ROW_H + 6.0;
    let plot_bottom = plot_top + t.lanes.len().max(1) as f64 * (BAND_H + BAND_GAP) - BAND_GAP;

    for s in axis_ticks(nice_max(end), end) {
        svg.line((x_of(s), plot_top), (x_of(s), plot_bottom), GRID);
        svg.text((x_of(s), plot_bottom + 14.0), r#"text-anchor="middle""#, &fmt_number(s));
    }
    svg.line((left, plot_bottom), (right, plot_bottom), AXIS);
    svg.text(((left + right) / 2.0, plot_bottom + 32.0), r#"text-anchor="middle""#, "simulated time (s)");
    if t.lanes.is_empty() {
        let attrs = format!(r#"text-anchor="middle" {MUTED} {HALO}"#);
        svg.text(((left + right) / 2.0, plot_top + BAND_H / 2.0 + 4.0), &attrs, "no connection opened");
    }
    for (i, lane) in t.lanes.iter().enumerate() {
        let top = plot_top + i as f64 * (BAND_H + BAND_GAP);
        svg.rect((left, top), (right - left, BAND_H), r##"fill="#000000" fill-opacity="0.04""##);
        let label = truncate(&lane.label, ((LANE_LABEL_W - 10.0) / (TEXT_SIZE * CHAR_W)) as usize);
        svg.text((left - 8.0, top + BAND_H / 2.0 + 4.0), r#"text-anchor="end""#, &label);
        let max = lane.sent.iter().chain(&lane.echoed).map(|p| p.1).max().unwrap_or(0);
        let y_of = |b: u64| top + BAND_H - BAND_PAD - b as f64 / max.max(1) as f64 * (BAND_H - 2.0 * BAND_PAD);
        for (points, style) in [(&lane.sent, SENT), (&lane.echoed, ECHOED)] {
            svg.shape("path", &format!(r#"d="{}" fill="none" {style}"#, step_path(points, x_of, y_of, right)));
        }
        svg.text((right + 6.0, top + BAND_PAD + 4.0), "", &fmt_bytes(max));
    }
    flags.sort_by_key(|f| f.broke); // the broke line goes on top
    for f in &flags {
        let y = flags_top + (f.row + 1) as f64 * MARKER_ROW_H;
        let (class, style) = if f.broke { ("broke", r#"stroke-width="2""#) } else { ("marker", DASHED) };
        svg.line((f.x, y + 2.0), (f.x, plot_bottom), &format!(r#"class="{class}" stroke="{}" {style}"#, f.colour));
        let (x, anchor) = if f.leftwards { (f.x - 3.0, "end") } else { (f.x + 3.0, "start") };
        let (weight, colour) = (if f.broke { "bold" } else { "normal" }, f.colour);
        let attrs =
            format!(r#"text-anchor="{anchor}" font-weight="{weight}" fill="{colour}" font-size="{SMALL_SIZE}" {HALO}"#);
        svg.text((x, y), &attrs, &f.label);
    }
    let broke = t.broke.as_ref().map(|b| format!(", broke at {} s: {}", fmt_number(clamp_time(b.at_s, end)), b.label));
    let (lanes, markers, broke, end) = (t.lanes.len(), t.markers.len(), broke.unwrap_or_default(), fmt_number(end));
    let desc = format!("Bytes sent and echoed on {lanes} connection(s) over {end} s, {markers} marker(s){broke}.");
    svg.finish(TL_WIDTH, plot_bottom + AXIS_H + MARGIN, &t.title, &desc)
}

/// Gives each flag (sorted by x) a label row so that labels in a row do not overlap, using at most
/// [`MARKER_ROWS`] rows (then the row that frees first), and turns a label that would pass `right` leftwards.
fn stagger(flags: &mut [Flag], right: f64) {
    let mut row_end = [f64::NEG_INFINITY; MARKER_ROWS];
    for f in flags {
        let w = 3.0 + text_w(f.label.chars().count(), SMALL_SIZE);
        f.leftwards = f.x + w > right;
        let (start, end) = if f.leftwards { (f.x - w, f.x) } else { (f.x, f.x + w) };
        let free = (0..MARKER_ROWS).find(|&r| row_end[r] + 4.0 <= start);
        f.row =
            free.unwrap_or_else(|| (0..MARKER_ROWS).min_by(|&a, &b| row_end[a].total_cmp(&row_end[b])).unwrap_or(0));
        row_end[f.row] = end;
    }
}

/// The `d` of a step line through cumulative (time, bytes) points: flat to each point's time, then straight up
/// (or down) to its count, and flat on to `x_end`. Points are sorted by time; NaN times are dropped.
fn step_path(points: &[(f64, u64)], x_of: impl Fn(f64) -> f64, y_of: impl Fn(u64) -> f64, x_end: f64) -> String {
    let mut points: Vec<(f64, u64)> = points.iter().copied().filter(|p| !p.0.is_nan()).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut d = format!("M{} {}", px(x_of(0.0)), px(y_of(0)));
    for (t, bytes) in points {
        let _ = write!(d, " H{} V{}", px(x_of(t)), px(y_of(bytes)));
    }
    let _ = write!(d, " H{}", px(x_end));
    d
}

/// The body of an SVG document being written; each method appends one element, text escaped, numbers by [`px`].
#[derive(Default)]
struct Svg(String);

impl Svg {
    /// An element without content: `<name attrs/>`.
    fn shape(&mut self, name: &str, attrs: &str) {
        let _ = writeln!(self.0, "<{name} {attrs}/>");
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), attrs: &str) {
        let attrs = format!(r#"x1="{}" y1="{}" x2="{}" y2="{}" {attrs}"#, px(x1), px(y1), px(x2), px(y2));
        self.shape("line", &attrs);
    }

    fn rect(&mut self, (x, y): (f64, f64), (w, h): (f64, f64), attrs: &str) {
        let attrs = format!(r#"x="{}" y="{}" width="{}" height="{}" {attrs}"#, px(x), px(y), px(w), px(h));
        self.shape("rect", &attrs);
    }

    fn text(&mut self, (x, y): (f64, f64), attrs: &str, content: &str) {
        let _ = writeln!(self.0, r#"<text x="{}" y="{}" {attrs}>{}</text>"#, px(x), px(y), escape(content));
    }

    /// Draws legend entries (label, attributes of the short line that is its swatch) in rows under the title,
    /// left to right from `x0` and wrapping before `right`; returns the number of rows.
    fn legend(&mut self, entries: &[(String, String)], x0: f64, right: f64) -> usize {
        let (mut x, mut row, mut rows) = (x0, 0, 0);
        for (label, swatch) in entries {
            let w = SWATCH_W + 22.0 + text_w(label.chars().count(), TEXT_SIZE);
            if x > x0 && x + w > right {
                (x, row) = (x0, row + 1);
            }
            let y = TITLE_H + 8.0 + row as f64 * LEGEND_ROW_H;
            self.line((x, y), (x + SWATCH_W, y), swatch);
            self.text((x + SWATCH_W + 6.0, y + 4.0), "", label);
            (x, rows) = (x + w, row + 1);
        }
        rows
    }

    /// The whole document: root element, `<title>`, `<desc>`, background and visible title, then the body.
    fn finish(self, width: f64, height: f64, title: &str, desc: &str) -> String {
        let (w, h) = (width.ceil(), height.ceil());
        let shown = escape(&truncate(title, ((w - 2.0 * MARGIN) / (16.0 * CHAR_W)) as usize));
        let (title, desc, body) = (escape(title), escape(desc), self.0);
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
             font-family=\"sans-serif\" font-size=\"{TEXT_SIZE}\" fill=\"{INK}\">\n<title>{title}</title>\n<desc>{desc}</desc>\n\
             <rect width=\"{w}\" height=\"{h}\" fill=\"#FFFFFF\"/>\n\
             <text x=\"{MARGIN}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{shown}</text>\n{body}</svg>\n"
        )
    }
}

/// A coordinate with one decimal, so output is byte-stable; non-finite values (and -0.0) become 0.0.
fn px(v: f64) -> String {
    format!("{:.1}", if v.is_finite() && v.abs() >= 0.05 { v } else { 0.0 })
}

/// Escapes text for XML content and attributes; control characters, which XML 1.0 forbids, become spaces.
fn escape(text: &str) -> String {
    let clean: String =
        text.chars().map(|c| if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' { ' ' } else { c }).collect();
    clean.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// `text` cut to at most `max` characters, ending in "…" when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    text.chars().take(max.saturating_sub(1)).chain(['…']).collect()
}

/// Splits `text` at spaces into lines of at most `width` characters (cutting longer words), at most `max_lines`
/// of them; when it does not fit, the last line ends in "…".
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let width = width.max(4);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        for chunk in word.chars().collect::<Vec<_>>().chunks(width).map(String::from_iter) {
            if cur.is_empty() {
                cur = chunk;
            } else if cur.chars().count() + 1 + chunk.chars().count() <= width {
                cur = format!("{cur} {chunk}");
            } else {
                lines.push(std::mem::replace(&mut cur, chunk));
            }
        }
    }
    lines.extend(Some(cur).filter(|c| !c.is_empty()));
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        lines[max_lines - 1] = lines[max_lines - 1].chars().take(width - 1).chain(['…']).collect();
    }
    lines
}

/// A bar's value as drawn: zero for negative, NaN or infinite values.
fn clamp_value(v: f64) -> f64 {
    Some(v.max(0.0)).filter(|v| v.is_finite()).unwrap_or(0.0)
}

/// A time on an axis from 0 to `end` (NaN counts as 0).
fn clamp_time(t: f64, end: f64) -> f64 {
    t.max(0.0).min(end)
}

/// Estimated width in pixels of `chars` characters at font size `size`.
fn text_w(chars: usize, size: f64) -> f64 {
    chars as f64 * size * CHAR_W
}

/// The top of a value axis covering `v`: the smallest 1, 2, 2.5 or 5 × 10^k at or above it (1,844 gives 2,000;
/// 0.37 gives 0.5; 2.4 gives 2.5), or 1 when there is no positive finite value.
fn nice_max(v: f64) -> f64 {
    let base = 10f64.powi(v.log10().floor() as i32);
    let max = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().find(|m| v / base <= m * (1.0 + 1e-9)).unwrap_or(1.0) * base;
    Some(max).filter(|max| v > 0.0 && max.is_finite() && *max > 0.0).unwrap_or(1.0)
}

/// Gridline values from 0 up to `end`, a nice step apart (4 to 6 of them up to a [`nice_max`] `max`).
fn axis_ticks(max: f64, end: f64) -> Vec<f64> {
    let step = nice_max(max / 5.0);
    (0..=6).map(|i| step * f64::from(i)).take_while(|v| *v <= end * (1.0 + 1e-9)).collect()
}

/// A number for people: from 1,000 up, whole with thousands separators (1,500); below, at most three significant
/// digits and no trailing zeros (250, 12.5, 2.5, 0.25, 0.0042). Non-finite values print as 0.
fn fmt_number(v: f64) -> String {
    let a = if v.is_finite() { v.abs() } else { 0.0 };
    let decimals = match a {
        a if a >= 99.95 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        a if a >= 1e-6 => ((-a.log10()).ceil() as usize + 1).min(6),
        _ => 0,
    };
    let fixed = format!("{a:.decimals$}");
    let digits = if decimals > 0 {
        fixed.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let groups: Vec<&str> =
            fixed.as_bytes().rchunks(3).rev().map(|d| std::str::from_utf8(d).unwrap_or("")).collect();
        groups.join(",")
    };
    let sign = if v < 0.0 && digits != "0" { "-" } else { "" };
    format!("{sign}{digits}")
}

/// A byte count for people: "512 B", "64 KiB", "1.5 MiB".
fn fmt_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut unit) = (bytes as f64, 0);
    while v >= 1024.0 && unit + 1 < units.len() {
        (v, unit) = (v / 1024.0, unit + 1);
    }
    format!("{} {}", fmt_number(v), units[unit])
}

#[cfg(test)]
#[path = "svg_tests.rs"]
mod tests;
