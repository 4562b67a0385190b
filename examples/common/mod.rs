//! What the demos share: printing aligned tables.

/// Prints an aligned table, indented two spaces; `right` marks right-aligned columns.
pub fn print_table(headers: &[&str], right: &[bool], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::from(" ");
        for ((cell, w), r) in cells.iter().zip(&widths).zip(right) {
            let pad = w - cell.chars().count();
            out.push_str("  ");
            if *r {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        println!("{}", out.trim_end());
    };
    let headers: Vec<String> = headers.iter().map(|h| (*h).to_string()).collect();
    line(&headers);
    let rules: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    line(&rules);
    for row in rows {
        line(row);
    }
}
