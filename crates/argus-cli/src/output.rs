//! Printing results as JSON lines or as an aligned table.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

/// Where results go: JSON lines (`--json`) or a plain table.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints rows: each as one JSON line, or as a table with `headers`
    /// whose cells come from `cells`.
    pub fn rows<T: Serialize>(&self, headers: &[&str], rows: &[T], cells: impl Fn(&T) -> Vec<String>) -> Result<()> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if self.json {
            for r in rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
            return Ok(out.flush()?);
        }
        let table: Vec<Vec<String>> = rows.iter().map(&cells).collect();
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &table {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| -> String {
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_owned()
        };
        writeln!(out, "{}", line(headers.iter().map(|h| (*h).to_owned()).collect()))?;
        for row in table {
            writeln!(out, "{}", line(row))?;
        }
        Ok(out.flush()?)
    }

    /// Prints one record: a JSON line, or `text`.
    pub fn one<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> Result<()> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if self.json {
            writeln!(out, "{}", serde_json::to_string(value)?)?;
        } else {
            writeln!(out, "{}", text())?;
        }
        Ok(out.flush()?)
    }
}
