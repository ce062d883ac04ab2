//! `stockade up` in a real 80×24 pseudo-terminal (openpty with that window
//! size): the view takes the alternate screen, shows every replica running,
//! fits the terminal (nothing is written past column 80 or row 24; a long
//! title is cut with `…`), and Ctrl-C (a 0x03 typed on the terminal, so
//! SIGINT from the line discipline, as a user's) stops the daemon, leaves
//! the alternate screen and prints the clean stop line. The screen is
//! rebuilt by a terminal emulator (`vt100`) from the bytes the view wrote.

use crate::support::wait_until;
use crate::top::PtyChild;
use std::num::NonZeroU16;
use std::time::Duration;

const ROWS: u16 = 24;
const COLS: u16 = 80;

/// Unwalled sleepers: nothing to build, a few replicas to show.
const SPEC: &str = r#"
[service.alpha]
command = ["sh", "-c", "echo hello-from-alpha; exec sleep 600"]
isolation = "none"

[service.beta]
command = ["sleep", "600"]
isolation = "none"
replicas = 2
"#;

/// The screen `bytes` leave on a terminal of `rows` × `cols`.
fn screen(bytes: &[u8], rows: u16, cols: u16) -> vt100::Parser {
    let size = |n| NonZeroU16::new(n).expect("a size above zero");
    let mut parser = vt100::Parser::new(size(rows), size(cols), 0);
    parser.process(bytes);
    parser
}

fn lines(parser: &vt100::Parser, cols: u16) -> Vec<String> {
    parser.screen().rows(0, cols).collect()
}

#[test]
fn up_fits_an_80x24_terminal_and_ctrl_c_stops_it_cleanly() {
    if !std::path::Path::new("/sys/fs/cgroup").exists() {
        eprintln!("skipped: no cgroup filesystem for the daemon's boxes");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stockade.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut up =
        PtyChild::spawn_sized(&["up".as_ref(), "-f".as_ref(), spec.as_os_str()], (ROWS, COLS));

    let names = ["alpha[0]", "beta[0]", "beta[1]"];
    let shown = wait_until(Duration::from_secs(60), "every replica running in the view", || {
        let parser = screen(&up.bytes(), ROWS, COLS);
        let rows = lines(&parser, COLS);
        let running =
            names.iter().all(|name| rows.iter().any(|l| l.contains(name) && l.contains("running")));
        // The logs pane shows the line as printed, not the stored record
        // (no timestamp, no stream tag).
        let logged = rows.iter().any(|l| l.contains("alpha[0] | hello-from-alpha"));
        if running && logged && parser.screen().alternate_screen() {
            Ok(rows)
        } else {
            Err(format!("screen:\n{}\nraw: {:?}", rows.join("\n"), up.output()))
        }
    });
    let all = shown.join("\n");
    assert!(up.output().contains("\x1b[?1049h"), "it entered the alternate screen");
    assert!(shown[0].starts_with("stockade up — "), "{all}");
    // The title holds the spec's tempdir path, the box backend and the
    // socket: longer than 80 columns, so it is cut.
    assert_eq!(shown[0].chars().count(), usize::from(COLS), "{all}");
    assert!(shown[0].ends_with('…'), "a cut line ends with …: {all}");

    // The same bytes on a terminal twice as wide and tall: anything the
    // view wrote past column 80 or row 24 would show there (a real 80×24
    // terminal wraps or scrolls it instead, and the view breaks).
    let wide = screen(&up.bytes(), ROWS * 2, COLS * 2);
    assert!(wide.screen().alternate_screen());
    for (n, line) in lines(&wide, COLS * 2).iter().enumerate() {
        let width = line.trim_end().chars().count();
        let limit = if n < usize::from(ROWS) { usize::from(COLS) } else { 0 };
        assert!(width <= limit, "row {n} is {width} columns wide: {line:?}\n{all}");
    }

    up.send(&[0x03]);
    assert_eq!(up.wait_exit(), Some(0), "{}", up.output());
    up.finish();
    let output = up.output();
    let left = output.rfind("\x1b[?1049l").expect("it left the alternate screen");
    assert!(left > output.rfind("\x1b[?1049h").unwrap(), "and left it last: {output:?}");
    let after = &output[left..];
    assert!(
        after.contains("stopped: 3 run(s) ended cleanly, 0 killed after their grace"),
        "the clean stop line, on the normal screen: {after:?}"
    );
    let normal = screen(output.as_bytes(), ROWS, COLS);
    assert!(!normal.screen().alternate_screen(), "back on the normal screen");
}
