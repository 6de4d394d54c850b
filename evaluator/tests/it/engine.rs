use std::time::{Duration, Instant};

use quorate_evaluator::{
    Error, TaskErrorKind,
    engine::{Deadline, Runtime, Value},
};

fn rt() -> &'static Runtime {
    Runtime::global().unwrap_or_else(|e| panic!("{e}"))
}

fn secs(s: u64) -> Deadline {
    Deadline::after(Duration::from_secs(s))
}

#[test]
fn eval_returns_primitive_values() {
    let mut cx = rt().context().unwrap();
    assert_eq!(cx.eval("1 + 2", secs(5)).unwrap(), Value::Number(3.0));
    assert_eq!(cx.eval("0.5 * 3", secs(5)).unwrap(), Value::Number(1.5));
    assert_eq!(cx.eval("'a' + 'é'", secs(5)).unwrap(), Value::String("aé".into()));
    assert_eq!(cx.eval("null", secs(5)).unwrap(), Value::Null);
    assert_eq!(cx.eval("undefined", secs(5)).unwrap(), Value::Undefined);
    assert_eq!(cx.eval("true", secs(5)).unwrap(), Value::Bool(true));
    assert_eq!(cx.eval("[1]", secs(5)).unwrap(), Value::Object("array"));
    assert_eq!(cx.eval("(() => 1)", secs(5)).unwrap(), Value::Object("function"));
    assert_eq!(cx.eval("var x = 41; x + 1", secs(5)).unwrap(), Value::Number(42.0));
    assert_eq!(cx.eval("x", secs(5)).unwrap(), Value::Number(41.0));
}

#[test]
fn exceptions_and_parse_errors_are_errors_with_messages() {
    let mut cx = rt().context().unwrap();
    let e = cx.eval("throw new TypeError('boom')", secs(5)).unwrap_err();
    assert!(
        matches!(&e, Error::Js { kind: "exception", message } if message.contains("boom")),
        "{e:?}"
    );
    let e = cx.eval("let = ;", secs(5)).unwrap_err();
    assert!(matches!(&e, Error::Js { kind: "parse error", .. }), "{e:?}");
    assert_eq!(cx.eval("2", secs(5)).unwrap(), Value::Number(2.0));
}

#[test]
fn call_passes_string_arguments() {
    let mut cx = rt().context().unwrap();
    cx.eval("function cat(a, b) { return a + '|' + b }", secs(5)).unwrap();
    assert_eq!(cx.call("cat", &["x", "y"], secs(5)).unwrap(), Value::String("x|y".into()));
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline_and_the_context_stays_usable() {
    let mut cx = rt().context().unwrap();
    let t = Instant::now();
    let e = cx.eval("while (true) {}", Deadline::after(Duration::from_millis(200))).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::Timeout), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(!cx.is_wedged());
    assert_eq!(cx.eval("6 * 7", secs(5)).unwrap(), Value::Number(42.0));
}

#[test]
fn a_heap_bomb_is_stopped_by_the_hard_limit() {
    let mut cx = rt().context().unwrap();
    cx.set_heap_limit(64 << 20);
    let e = cx
        .eval("const a = []; for (let i = 0; ; i++) a.push('x'.repeat(50) + i);", secs(30))
        .unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::HeapLimit), "{e:?}");
    assert!(cx.heap_limit_reached());
    cx.set_heap_limit(64 << 20);
    assert_eq!(cx.eval("1", secs(5)).unwrap(), Value::Number(1.0));
}
