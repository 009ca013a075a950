//! A file's diff against the repository, one line per row, as every page shows one (the
//! preview, the approvals queue, a promotion).

use leptos::prelude::*;

use crate::catalog::DiffLine;

/// The lines of a diff, added in green and removed in red, scrolling inside its box.
#[component]
pub fn Diff(lines: Vec<DiffLine>, testid: &'static str) -> impl IntoView {
    view! {
        <pre data-testid=testid class="mt-1 max-h-96 overflow-auto rounded bg-canvas p-2 font-mono text-xs">
            {lines.into_iter().map(|line| {
                let class = match line.sign {
                    '+' => "block text-emerald-800 dark:text-emerald-300",
                    '-' => "block text-red-800 dark:text-red-300",
                    _ => "block text-strong",
                };
                view! { <span class=class>{format!("{} {}", line.sign, line.text)}</span> }
            }).collect_view()}
        </pre>
    }
}
