//! Tests of the SVG renderers: they parse as XML, escape text, never print NaN, and draw what they are given.
use super::*;
use roxmltree::{Document, Node};

fn series(name: &str, values: &[Option<f64>]) -> Series {
    Series { name: name.into(), values: values.to_vec() }
}

fn throughput() -> BarChart {
    BarChart {
        title: "Echo throughput".into(),
        y_label: "MB/s echoed".into(),
        groups: vec!["stream, 16 conns, 64 KiB".into(), "ping-pong, 1 conn".into()],
        series: vec![series("ours", &[Some(1844.0), Some(12.5)]), series("baseline", &[None, Some(0.25)])],
    }
}

fn marker(at_s: f64, label: &str, kind: MarkerKind) -> Marker {
    Marker { at_s, label: label.into(), kind }
}

/// Two lanes, markers before, inside and after the run, and the broke point.
fn failing_run() -> Timeline {
    let (sent, echoed) = (vec![(0.5, 1000), (1.0, 4000), (2.0, 9000)], vec![(0.6, 1000), (1.1, 4000)]);
    let lane = |label: &str| Lane { label: label.into(), sent: sent.clone(), echoed: echoed.clone() };
    let markers = vec![
        marker(1.5, "partition c0|srv", MarkerKind::Partition),
        marker(-3.0, "before start", MarkerKind::Hold),
        marker(99.0, "after end", MarkerKind::Restart),
    ];
    let broke = Some(marker(6.0, "liveness broke", MarkerKind::Other));
    Timeline { title: "seed 7".into(), end_s: 10.0, lanes: vec![lane("c0 conn 1"), lane("c1 conn 1")], markers, broke }
}

/// Parses `svg` and checks what every chart has: the SVG root with its size and font, `<title>` and `<desc>`.
fn parse<'a>(svg: &'a str, title: &str) -> Document<'a> {
    let doc = Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    assert_eq!((root.tag_name().name(), root.attribute("font-family")), ("svg", Some("sans-serif")));
    let (w, h) = (root.attribute("width").unwrap(), root.attribute("height").unwrap());
    assert_eq!(root.attribute("viewBox"), Some(format!("0 0 {w} {h}").as_str()));
    let heads: Vec<Node> = root.children().filter(Node::is_element).take(2).collect();
    assert_eq!((heads[0].tag_name().name(), heads[0].text()), ("title", Some(title)));
    assert_eq!(heads[1].tag_name().name(), "desc");
    doc
}

fn count(doc: &Document, pred: impl Fn(&Node) -> bool) -> usize {
    doc.descendants().filter(|n| n.is_element() && pred(n)).count()
}

fn texts(doc: &Document, text: &str) -> usize {
    count(doc, |n| n.has_tag_name("text") && n.text() == Some(text))
}

#[test]
fn bar_chart_draws_bars_labels_legend_and_na() {
    let svg = bar_chart(&throughput());
    assert_eq!(svg, bar_chart(&throughput()), "deterministic");
    let doc = parse(&svg, "Echo throughput");
    let bars = |s| count(&doc, |n| n.has_tag_name("rect") && n.attribute("fill") == Some(palette(s)));
    assert_eq!((bars(0), bars(1)), (2, 1));
    for text in ["n/a", "1,844", "12.5", "0.25", "2,000", "500", "MB/s echoed", "baseline", "ping-pong, 1 conn"] {
        assert_eq!(texts(&doc, text), 1, "{text} once in\n{svg}");
    }
    assert!(svg.contains(r#"transform="rotate(-90"#));
}

#[test]
fn bad_values_never_reach_the_svg() {
    let bad = [Some(f64::NAN), Some(f64::INFINITY), Some(f64::NEG_INFINITY), Some(-5.0), Some(0.0), Some(f64::MAX)];
    let groups = (0..6).map(|g| format!("g{g}")).collect();
    let svg = bar_chart(&BarChart { groups, series: vec![series("s", &bad)], ..throughput() });
    assert_eq!(texts(&parse(&svg, "Echo throughput"), "0"), 6, "5 bars clamped to 0, and the 0 tick");
    let mut run = Timeline { end_s: f64::NAN, ..failing_run() };
    run.markers.push(marker(f64::NAN, "nan", MarkerKind::Reset));
    run.lanes[0].sent.push((f64::INFINITY, u64::MAX));
    for svg in [svg, timeline(&run)] {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}

#[test]
fn text_is_escaped() {
    let chart = BarChart { title: "a<b&c".into(), series: vec![series("it's \"q\" >", &[Some(1.0)])], ..throughput() };
    let svg = bar_chart(&chart);
    assert!(svg.contains("a&lt;b&amp;c") && svg.contains("it&#39;s &quot;q&quot; &gt;"), "{svg}");
    assert_eq!(texts(&parse(&svg, "a<b&c"), "it's \"q\" >"), 1);
    assert_eq!(escape("x\u{1}y\n"), "x y ");
}

#[test]
fn empty_charts_say_so() {
    let all_missing = BarChart { series: vec![series("a", &[None, None])], ..throughput() };
    for chart in [BarChart { groups: vec![], ..throughput() }, all_missing] {
        assert_eq!(texts(&parse(&bar_chart(&chart), "Echo throughput"), "no data"), 1);
    }
    let svg = timeline(&Timeline { end_s: 0.0, lanes: vec![], ..failing_run() });
    let doc = parse(&svg, "seed 7");
    assert_eq!(texts(&doc, "no connection opened"), 1);
    assert_eq!((texts(&doc, "1"), texts(&doc, "10")), (1, 0), "end_s <= 0 draws 0..1 s");
}

#[test]
fn numbers_and_axes_read_well() {
    let maxima = [1844.0, 0.37, 2.4, 7.0, 1000.0, 0.0, -1.0, f64::NAN, f64::INFINITY].map(nice_max);
    assert_eq!(maxima, [2000.0, 0.5, 2.5, 10.0, 1000.0, 1.0, 1.0, 1.0, 1.0]);
    let ticks = |max, end| axis_ticks(max, end).into_iter().map(fmt_number).collect::<Vec<_>>().join(" ");
    assert_eq!(
        [ticks(2000.0, 2000.0), ticks(1.0, 0.9), ticks(10.0, 7.3)],
        ["0 500 1,000 1,500 2,000", "0 0.2 0.4 0.6 0.8", "0 2 4 6"]
    );
    let formatted = [1500.0, 1_234_567.8, 250.0, 99.97, 12.0, 2.5, 0.25, 0.0042, 0.0, -3.5].map(fmt_number);
    assert_eq!(formatted, ["1,500", "1,234,568", "250", "100", "12", "2.5", "0.25", "0.0042", "0", "-3.5"]);
    assert_eq!([100, 65_536, 1_572_864].map(fmt_bytes), ["100 B", "64 KiB", "1.5 MiB"]);
    assert_eq!(wrap("stream, 16 conns, 64 KiB", 12, 3), ["stream, 16", "conns, 64", "KiB"]);
    assert_eq!(wrap("a bb ccc dddd eeeee", 4, 2), ["a bb", "ccc…"]);
}

#[test]
fn many_groups_widen_the_chart_and_long_labels_wrap() {
    let groups = (0..20).map(|g| format!("stream, {g} conns, 64 KiB")).collect();
    let values: Vec<Option<f64>> = (0..20).map(|g| Some(g as f64 * 100.0)).collect();
    let svg = bar_chart(&BarChart { groups, series: vec![series("a", &values), series("b", &values)], ..throughput() });
    let doc = parse(&svg, "Echo throughput");
    let width: f64 = doc.root_element().attribute("width").unwrap().parse().unwrap();
    assert!(width > 20.0 * MIN_GROUP_W, "width {width}");
    let lines = |start: &str| count(&doc, |n| n.text().is_some_and(|t| t.starts_with(start)));
    assert_eq!((lines("stream, "), lines("conns, 64")), (20, 20), "every label on two lines");
}

#[test]
fn timeline_draws_one_line_per_marker_and_the_broke_line() {
    let svg = timeline(&failing_run());
    assert_eq!(svg, timeline(&failing_run()), "deterministic");
    let doc = parse(&svg, "seed 7");
    let class = |c: &str| doc.descendants().filter(|n| n.attribute("class") == Some(c)).collect::<Vec<_>>();
    let xs: Vec<&str> = class("marker").iter().map(|n| n.attribute("x1").unwrap()).collect();
    let (left, right) = (px(MARGIN + LANE_LABEL_W), px(TL_WIDTH - MARGIN - BYTES_W));
    assert_eq!(xs, [left.as_str(), "242.9", right.as_str()], "sorted by time, clamped to the axis");
    let broke = class("broke");
    assert_eq!(broke.len(), 1);
    assert_eq!((broke[0].attribute("stroke"), broke[0].attribute("stroke-dasharray")), (Some(BROKE), None));
    for text in ["liveness broke", "c1 conn 1", "8.79 KiB", "simulated time (s)", "partition", "10"] {
        assert!(texts(&doc, text) >= 1, "{text} in\n{svg}");
    }
    assert_eq!(count(&doc, |n| n.has_tag_name("path")), 4, "sent and echoed per lane");
}
