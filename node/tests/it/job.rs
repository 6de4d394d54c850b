//! `quorate job run-local` as a user runs it: real `quorate-evaluator` sandboxes, results in
//! input order, the work function's own errors reported by index, and every bad input refused
//! with a sentence that says what to fix.

use std::path::{Path, PathBuf};

use crate::common::{evaluator, quorate, run};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `quorate job run-local CODE INPUTS ARGS…` with the test's sandbox, two at once.
fn run_local(code: &Path, inputs: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut command = quorate();
    command
        .arg("--set")
        .arg(format!("evaluator.program={}", evaluator().display()))
        .args(["job", "run-local"])
        .arg(code)
        .arg(inputs)
        .args(["--cores", "2"])
        .args(extra);
    run(&mut command)
}

#[test]
fn results_come_in_input_order_with_the_work_functions_errors_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let code = write(
        dir.path(),
        "square.js",
        "(input, offset) => { if (input.n < 0) throw new Error('negative: ' + input.n); \
         console.log('squaring', input.n); return { n: input.n, square: input.n * input.n + offset } }",
    );
    let inputs =
        write(dir.path(), "in.jsonl", "{\"n\": 3}\n{\"n\": -1}\n\n{\"n\": 12}\n{\"n\": 0}\n");
    let (ok, out, err) = run_local(&code, &inputs, &["--args", "[100]"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"index":0,"result":{"n":3,"square":109}}"#,
            r#"{"index":1,"error":{"kind":"threw","message":"Error: negative: -1"}}"#,
            r#"{"index":2,"result":{"n":12,"square":244}}"#,
            r#"{"index":3,"result":{"n":0,"square":100}}"#,
        ],
        "{err}"
    );
    assert!(err.contains("[task 2] squaring 12"), "console lines are relayed: {err}");
    assert!(err.contains("4 tasks in"), "{err}");
    assert!(err.contains("3 results, 1 error of the work function, 0 failed"), "{err}");

    // A JSON array of inputs, results to a file.
    let array = write(dir.path(), "in.json", "[{\"n\": 2}, {\"n\": 5}]");
    let out_file = dir.path().join("results.jsonl");
    let (ok, out, err) =
        run_local(&code, &array, &["--args", "[0]", "--out", out_file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.is_empty());
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "{\"index\":0,\"result\":{\"n\":2,\"square\":4}}\n{\"index\":1,\"result\":{\"n\":5,\"square\":25}}\n"
    );
}

#[test]
fn a_task_past_its_limit_fails_on_this_machine_and_the_command_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let code = write(dir.path(), "spin.js", "(n) => { if (n === 1) { for (;;) {} } return n }");
    let inputs = write(dir.path(), "in.jsonl", "0\n1\n2\n");
    let (ok, out, err) = run_local(&code, &inputs, &["--timeout", "0.5"]);
    assert!(!ok, "a task that failed on this machine fails the command");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.lines().nth(1).unwrap().starts_with(r#"{"index":1,"failed":{"kind":"timeout""#),
        "{out}"
    );
    assert!(err.contains("[task 1] failed on this machine (timeout)"), "{err}");
}

#[test]
fn bad_jobs_are_refused_with_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let good_code = write(dir.path(), "ok.js", "(x) => x");
    let good_inputs = write(dir.path(), "in.jsonl", "1\n2\n");
    let cases: [(PathBuf, PathBuf, &[&str], &str); 6] = [
        (
            write(dir.path(), "broken.js", "(x) => { return x +"),
            good_inputs.clone(),
            &[],
            "the work function does not load: line 1: SyntaxError: Unexpected end of input",
        ),
        (
            good_code.clone(),
            write(dir.path(), "bad.jsonl", "1\n{oops}\n"),
            &[],
            "bad.jsonl:2: not JSON",
        ),
        (good_code.clone(), write(dir.path(), "empty.jsonl", "\n \n"), &[], "holds no inputs"),
        (
            good_code.clone(),
            good_inputs.clone(),
            &["--args", "{}"],
            "the arguments must be a JSON array",
        ),
        (write(dir.path(), "blank.js", "  \n"), good_inputs, &[], "is empty"),
        (good_code, dir.path().join("missing.jsonl"), &[], "cannot read the inputs file"),
    ];
    for (code, inputs, extra, says) in cases {
        let (ok, out, err) = run_local(&code, &inputs, extra);
        assert!(!ok, "{says}: accepted");
        assert!(out.is_empty(), "{says}: {out}");
        assert!(err.contains(says), "expected {says:?} in {err}");
        assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    }
}
