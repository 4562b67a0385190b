//! What the demos share: aligned tables and short text helpers. Each demo compiles this
//! module on its own and uses only some of it.

#![allow(dead_code)]

use consumer_groups::{MemberId, Offset};

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

/// Wraps `text` at 100 columns; continuation lines are indented `indent` spaces.
pub fn wrap(text: &str, indent: usize) -> String {
    const WIDTH: usize = 100;
    let mut out = String::new();
    let mut column = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if column > 0 && column + 1 + len > WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
        } else if column > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
    }
    out
}

/// `client-1a2b3c4d…`: the client id and the first block of the member id's random part.
pub fn short_id(member: &MemberId) -> String {
    let s = member.as_str();
    match s.char_indices().filter(|(_, c)| *c == '-').nth(1) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub fn show(offset: Option<Offset>) -> String {
    offset.map_or_else(|| "-".to_string(), |o| o.0.to_string())
}
