//! Frames and messages: exact bytes, round trips, and refusal of bad input.

use proptest::prelude::*;
use quorate_evaluator::{
    Error, TaskErrorKind,
    protocol::{self, Capabilities, Request, Response, VERSION},
    sandbox::{ConsoleLevel, Limits, TaskSpec},
};
use quorate_primitives::{B256, ContentHash, ResultDigest, TaskId};

/// `json` as one frame of this protocol (the shared frame header, then the bytes).
fn framed(json: &[u8]) -> Vec<u8> {
    let len = u32::try_from(json.len()).unwrap();
    [&quorate_primitives::frame::encode_header(VERSION, len)[..], json].concat()
}

fn decode_json<T: for<'de> serde::Deserialize<'de>>(json: &[u8]) -> Result<T, Error> {
    protocol::decode::<T>(&framed(json), 1 << 20)
        .map(|decoded| decoded.map(|(msg, _)| msg).unwrap())
}

#[test]
fn frame_bytes_are_stable() {
    let frame = protocol::encode(&Request::Describe {}).unwrap();
    assert_eq!(frame, [&[1, 0, 0, 0, 19][..], br#"{"type":"describe"}"#].concat());
    assert_eq!(&frame[5..], br#"{"type":"describe"}"#);
    assert_eq!(&frame[..5], &[VERSION, 0, 0, 0, 19]);

    let spec = TaskSpec {
        task_id: TaskId::from(B256::repeat_byte(0xab)),
        now_ms: 1_700_000_000_000,
        input: r#"{"x":1}"#.into(),
        args: "[2]".into(),
        limits: Limits {
            timeout_ms: 1000,
            progress_watchdog_ms: Some(500),
            heap_bytes: 1 << 20,
            result_bytes: 4096,
            console_bytes: 512,
            gpu_bytes: 1 << 20,
        },
    };
    let frame = protocol::encode(&Request::RunTask { spec }).unwrap();
    assert_eq!(
        std::str::from_utf8(&frame[5..]).unwrap(),
        r#"{"type":"run_task","spec":{"task_id":"0xabababababababababababababababababababababababababababababababab","now_ms":1700000000000,"input":"{\"x\":1}","args":"[2]","limits":{"timeout_ms":1000,"progress_watchdog_ms":500,"heap_bytes":1048576,"result_bytes":4096,"console_bytes":512,"gpu_bytes":1048576}}}"#
    );

    let frame = protocol::encode(&Response::TaskError {
        kind: TaskErrorKind::HeapLimit,
        message: "m".into(),
    })
    .unwrap();
    assert_eq!(&frame[5..], br#"{"type":"task_error","kind":"heap_limit","message":"m"}"#);
    let frame = protocol::encode(&Response::Result {
        result: "[1]".into(),
        digest: ResultDigest::of(TaskId::default(), b"[1]"),
        dropped_events: 0,
    })
    .unwrap();
    assert_eq!(
        std::str::from_utf8(&frame[5..]).unwrap(),
        format!(
            r#"{{"type":"result","result":"[1]","digest":"{}","dropped_events":0}}"#,
            ResultDigest::of(TaskId::default(), b"[1]")
        )
    );
}

#[test]
fn oversized_frames_wrong_versions_and_unknown_fields_are_refused() {
    let mut frame = protocol::encode(&Request::Reset {}).unwrap();
    assert!(matches!(
        protocol::decode::<Request>(&frame, 4),
        Err(Error::FrameTooLarge { len: 16, max: 4 })
    ));
    assert!(matches!(protocol::decode::<Request>(&frame[..frame.len() - 1], 1 << 20), Ok(None)));
    frame[0] = 9;
    assert!(matches!(
        protocol::decode::<Request>(&frame, 1 << 20),
        Err(Error::Version { got: 9, want: VERSION })
    ));
    let body = br#"{"type":"load_job","hash":"0x0000000000000000000000000000000000000000000000000000000000000000","code":"","extra":1}"#;
    assert!(matches!(decode_json::<Request>(body), Err(Error::Protocol { .. })));
    // Unknown fields are refused on the messages without fields too.
    for extra in [
        &br#"{"type":"reset","extra":1}"#[..],
        br#"{"type":"describe","x":null}"#,
        br#"{"type":"die","now":true}"#,
    ] {
        assert!(matches!(decode_json::<Request>(extra), Err(Error::Protocol { .. })));
    }
    assert!(matches!(
        decode_json::<Response>(br#"{"type":"reset_done","x":1}"#),
        Err(Error::Protocol { .. })
    ));
    // And the same messages without them still decode (the wire format is unchanged).
    assert!(matches!(decode_json::<Request>(br#"{"type":"reset"}"#), Ok(Request::Reset {})));
    assert_eq!(protocol::encode(&Request::Die {}).unwrap()[5..], br#"{"type":"die"}"#[..]);
    assert!(matches!(
        decode_json::<Request>(br#"{"type":"format_disk"}"#),
        Err(Error::Protocol { .. })
    ));
    assert!(matches!(decode_json::<Request>(b""), Err(Error::Protocol { .. })));
}

fn arb_spec() -> impl Strategy<Value = TaskSpec> {
    (
        any::<[u8; 32]>(),
        any::<u64>(),
        ".*",
        ".*",
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(
                id,
                now_ms,
                input,
                args,
                timeout_ms,
                progress_watchdog_ms,
                heap_bytes,
                result_bytes,
                console_bytes,
            )| TaskSpec {
                task_id: TaskId::from(B256::from(id)),
                now_ms,
                input,
                args,
                limits: Limits {
                    timeout_ms,
                    progress_watchdog_ms,
                    heap_bytes,
                    result_bytes,
                    console_bytes,
                    gpu_bytes: heap_bytes,
                },
            },
        )
}

fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Describe {}),
        Just(Request::Reset {}),
        Just(Request::Die {}),
        (any::<[u8; 32]>(), ".*").prop_map(|(h, code)| Request::LoadJob {
            hash: ContentHash::from(B256::from(h)),
            code
        }),
        arb_spec().prop_map(|spec| Request::RunTask { spec }),
    ]
}

fn arb_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (".*", ".*", proptest::option::of(".*"), proptest::option::of(any::<u64>())).prop_map(
            |(v8, probe, gpu, gpu_memory_mib)| {
                Response::Capabilities(Capabilities {
                    protocol: VERSION,
                    evaluator: "0.1.0".into(),
                    v8,
                    gpu,
                    gpu_memory_mib,
                    float_probe: probe,
                })
            },
        ),
        any::<[u8; 32]>().prop_map(|h| Response::Loaded { hash: ContentHash::from(B256::from(h)) }),
        proptest::option::of(0.0f64..=1.0).prop_map(|fraction| Response::Progress { fraction }),
        (
            prop_oneof![
                Just(ConsoleLevel::Log),
                Just(ConsoleLevel::Warn),
                Just(ConsoleLevel::Error)
            ],
            ".*"
        )
            .prop_map(|(level, text)| Response::Console { level, text }),
        (".*", any::<u64>()).prop_map(|(result, dropped_events)| Response::Result {
            digest: ResultDigest::of(TaskId::default(), result.as_bytes()),
            result,
            dropped_events
        }),
        ".*".prop_map(|message| Response::TaskError { kind: TaskErrorKind::Threw, message }),
        ".*".prop_map(|message| Response::Failed { message }),
        Just(Response::ResetDone {}),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(req in arb_request()) {
        let frame = protocol::encode(&req).unwrap();
        let (back, used) = protocol::decode::<Request>(&frame, u32::MAX).unwrap().unwrap();
        prop_assert_eq!(used, frame.len());
        prop_assert_eq!(back, req);
    }

    #[test]
    fn responses_round_trip_through_a_stream(resps in proptest::collection::vec(arb_response(), 1..5)) {
        let mut stream = Vec::new();
        for r in &resps {
            protocol::write_frame(&mut stream, r).unwrap();
        }
        let mut reader = &stream[..];
        for r in &resps {
            let back: Response = protocol::read_frame(&mut reader, u32::MAX).unwrap().unwrap();
            prop_assert_eq!(&back, r);
        }
        prop_assert!(protocol::read_frame::<Response>(&mut reader, u32::MAX).unwrap().is_none());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = protocol::decode::<Request>(&bytes, 1 << 16);
        let _ = protocol::decode::<Response>(&bytes, 1 << 16);
    }
}
