//! Reading a `--json` summary back: its timeline, checked as it is read.

/// A summary's `timeline`, as rows of elapsed_us, not_initiated, dialing, established,
/// closed and error (found by column name), checked: time runs forward, every row adds up
/// to the summary's total, and the last row is the summary's own counts.
pub fn timeline_rows(summary: &serde_json::Value) -> Vec<[u64; 6]> {
    let t = &summary["timeline"];
    let columns: Vec<&str> = t["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("no timeline columns in {summary}"))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let keys = [
        "elapsed_us",
        "not_initiated",
        "dialing",
        "established",
        "closed",
        "error",
    ];
    let at = keys.map(|k| columns.iter().position(|c| *c == k).expect(k));
    let rows: Vec<[u64; 6]> = t["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no timeline samples in {summary}"))
        .iter()
        .map(|row| at.map(|i| row[i].as_u64().unwrap_or_else(|| panic!("{row}"))))
        .collect();
    let total = summary["counts"]["total"].as_u64().unwrap();
    for pair in rows.windows(2) {
        assert!(pair[0][0] <= pair[1][0], "time went back: {pair:?}");
    }
    for row in &rows {
        assert_eq!(
            row[1..].iter().sum::<u64>(),
            total,
            "{row:?} does not add up"
        );
    }
    let end = rows
        .last()
        .unwrap_or_else(|| panic!("no samples in {summary}"));
    let counts = &summary["counts"];
    for (i, key) in keys[1..].iter().enumerate() {
        assert_eq!(
            Some(end[i + 1]),
            counts[*key].as_u64(),
            "last sample {end:?} vs counts {counts}"
        );
    }
    rows
}
