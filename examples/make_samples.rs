//! Writes `samples/ranges.xlsx`, the spreadsheet sample (committed as a
//! binary file; run again after changing the rows below):
//!
//! ```text
//! cargo run --example make_samples
//! ```

use rust_xlsxwriter::{Format, Workbook};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();

    let pool = book.add_worksheet().set_name("Pool")?;
    let header = ["Backup Server", "IP Range", "Description", "Ticket"];
    let rows: [[&str; 4]; 6] = [
        ["backup01", "203.0.113.128/26", "Tenant F", "CHG-1001"],
        [
            "backup01",
            "203.0.113.192 - 203.0.113.199",
            "Tenant F overflow",
            "CHG-1002",
        ],
        [
            "",
            "198.51.100.200",
            "Tenant G (default backup server)",
            "CHG-1003",
        ],
        [
            "backup01",
            "198.51.100.201-198.51.100.210",
            "Tenant G, overlaps the row above",
            "CHG-1004",
        ],
        ["backup01", "2001:db8:30::/122", "Tenant H IPv6", "CHG-1005"],
        [
            "backup01",
            "2001:db8:30::40 - 2001:db8:30::4f",
            "Tenant H IPv6, adjacent",
            "CHG-1006",
        ],
    ];
    for (col, text) in header.iter().enumerate() {
        pool.write_string_with_format(0, col as u16, *text, &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, text) in row.iter().enumerate() {
            if !text.is_empty() {
                pool.write_string(r as u32 + 1, c as u16, *text)?;
            }
        }
    }
    pool.set_column_width(1, 34)?;
    pool.set_column_width(2, 36)?;

    // A second sheet, read only with --sheet Retired.
    let retired = book.add_worksheet().set_name("Retired")?;
    retired.write_string_with_format(0, 0, "Range", &bold)?;
    retired.write_string(1, 0, "203.0.113.240/29")?;

    book.save("samples/ranges.xlsx")?;
    println!("wrote samples/ranges.xlsx");
    Ok(())
}
