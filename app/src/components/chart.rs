//! Charts as SVG rendered with the page (no chart library, nothing fetched at run time).
//! Each chart is an image with a title and a text description for screen readers, a
//! tooltip per mark, and colours that follow dark mode; a table with the same numbers sits
//! beside it.

use leptos::prelude::*;

use crate::metrics::one_decimal;

/// One mark of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// Axis label.
    pub label: String,
    /// Value (its scale is the chart's).
    pub value: f64,
    /// The value as people read it (`"14"`, `"3.5 min"`).
    pub shown: String,
}

/// Width of the half-page charts (bars per item), in SVG units = CSS pixels at most.
const WIDTH: f64 = 640.0;
/// Width of the full-page charts (weeks, shares).
const WIDE: f64 = 1100.0;
// The colours of bars and text come from the `chart` class on the image (style/tailwind.css),
// not from a class list on each mark.
const STAGE_COLOURS: [&str; 4] = [
    "fill-sky-600 dark:fill-sky-400",
    "fill-violet-600 dark:fill-violet-400",
    "fill-amber-500 dark:fill-amber-300",
    "fill-emerald-600 dark:fill-emerald-400",
];

/// The image around a chart's marks: never drawn wider than its own width (its text stays
/// the size it was drawn at), titled and described for screen readers.
fn frame(
    id: &'static str,
    (width, height): (f64, f64),
    title: String,
    description: String,
    content: impl IntoView,
) -> impl IntoView {
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let labelled = format!("{title_id} {desc_id}");
    view! {
        <svg
            data-testid=id
            viewBox=format!("0 0 {width} {height}")
            // Its own width at most, narrower when the page is: no inline style, which the
            // Content Security Policy does not allow.
            width=width.to_string()
            class="chart h-auto max-w-full"
            role="img"
            aria-labelledby=labelled
        >
            <title id=title_id>{title}</title>
            <desc id=desc_id>{description}</desc>
            {content}
        </svg>
    }
}

fn describe(marks: &[Mark]) -> String {
    marks
        .iter()
        .map(|m| format!("{}: {}", m.label, m.shown))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Vertical bars in order (a time series): every bar has a tooltip, about eight labels
/// are written under the axis.
#[component]
pub fn ColumnChart(
    /// Id prefix (unique on the page).
    id: &'static str,
    /// What the chart shows.
    title: String,
    /// The bars.
    marks: Vec<Mark>,
) -> impl IntoView {
    let height = 180.0;
    let plot = height - 24.0;
    let max = marks.iter().map(|m| m.value).fold(0.0_f64, f64::max);
    let n = marks.len().max(1) as f64;
    let step = WIDE / n;
    let every = (marks.len() / 8).max(1);
    let bars = marks
        .iter()
        .enumerate()
        .map(|(i, mark)| {
            let h = if max > 0.0 { mark.value / max * (plot - 14.0) } else { 0.0 };
            let x = i as f64 * step;
            let label = (i % every == 0).then(|| {
                view! {
                    <text x=one_decimal(x + step / 2.0) y=one_decimal(height - 6.0) text-anchor="middle" font-size="11">
                        {mark.label.clone()}
                    </text>
                }
            });
            view! {
                <g data-testid="chart-mark" data-value=mark.value.to_string()>
                    <rect
                        x=one_decimal(x + step * 0.15)
                        y=one_decimal(plot - h)
                        width=one_decimal(step * 0.7)
                        height=one_decimal(h.max(if mark.value > 0.0 { 1.0 } else { 0.0 }))
                        rx="2"
                        class="bar"
                    >
                        <title>{format!("{}: {}", mark.label, mark.shown)}</title>
                    </rect>
                    {label}
                </g>
            }
        })
        .collect_view();
    let axis = view! {
        <line x1="0" x2=WIDE.to_string() y1=plot.to_string() y2=plot.to_string() class="stroke-slate-300 dark:stroke-slate-700" />
    };
    frame(id, (WIDE, height), title, describe(&marks), (axis, bars))
}

/// Horizontal bars, one row per item, the value written at the bar's end.
#[component]
pub fn BarChart(
    /// Id prefix (unique on the page).
    id: &'static str,
    /// What the chart shows.
    title: String,
    /// The bars, in the order shown.
    marks: Vec<Mark>,
) -> impl IntoView {
    let row = 26.0;
    let label_width = 170.0;
    let value_width = 80.0;
    let height = (marks.len().max(1) as f64) * row;
    let max = marks.iter().map(|m| m.value).fold(0.0_f64, f64::max);
    let bars = marks
        .iter()
        .enumerate()
        .map(|(i, mark)| {
            let y = i as f64 * row;
            let w = if max > 0.0 {
                mark.value / max * (WIDTH - label_width - value_width)
            } else {
                0.0
            };
            let label: String = mark.label.chars().take(24).collect();
            view! {
                <g data-testid="chart-mark" data-value=mark.value.to_string()>
                    <text x=(label_width - 8.0).to_string() y=one_decimal(y + row * 0.65) text-anchor="end" font-size="12">{label}</text>
                    <rect x=label_width.to_string() y=one_decimal(y + 4.0) width=one_decimal(w) height=one_decimal(row - 8.0) rx="2" class="bar">
                        <title>{format!("{}: {}", mark.label, mark.shown)}</title>
                    </rect>
                    <text x=one_decimal(label_width + w + 6.0) y=one_decimal(y + row * 0.65) font-size="12">{mark.shown.clone()}</text>
                </g>
            }
        })
        .collect_view();
    frame(id, (WIDTH, height), title, describe(&marks), bars)
}

/// One bar split into parts (shares of a whole), with a legend.
#[component]
pub fn ShareBar(
    /// Id prefix (unique on the page).
    id: &'static str,
    /// What the chart shows.
    title: String,
    /// The parts; values are shares (0–1).
    marks: Vec<Mark>,
) -> impl IntoView {
    let mut x = 0.0;
    let parts = marks
        .iter()
        .enumerate()
        .map(|(i, mark)| {
            let w = mark.value.max(0.0) * WIDE;
            let part = view! {
                <rect data-testid="chart-mark" data-value=mark.value.to_string() x=one_decimal(x) y="0" width=one_decimal(w) height="28" class=STAGE_COLOURS[i % STAGE_COLOURS.len()]>
                    <title>{format!("{}: {}", mark.label, mark.shown)}</title>
                </rect>
            };
            x += w;
            part
        })
        .collect_view();
    let legend = marks
        .iter()
        .enumerate()
        .map(|(i, mark)| {
            let lx = (i % 4) as f64 * (WIDE / 4.0);
            view! {
                <g>
                    <rect x=lx.to_string() y="40" width="12" height="12" class=STAGE_COLOURS[i % STAGE_COLOURS.len()] />
                    <text x=(lx + 18.0).to_string() y="50" font-size="12">{format!("{} {}", mark.label, mark.shown)}</text>
                </g>
            }
        })
        .collect_view();
    frame(id, (WIDE, 60.0), title, describe(&marks), (parts, legend))
}

/// Unix ms → `YYYY-MM-DD` (UTC), without a date library (days-from-civil inverted).
pub fn date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_392_000_000), "2026-11-23");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(date(-86_400_000), "1969-12-31");
    }
}
