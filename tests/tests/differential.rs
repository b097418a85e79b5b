//! Differential test: every corpus case runs through Aslan and through
//! aws-local-stepfunctions; their outcomes must agree, except for the cases
//! listed in tests/corpus/DEVIATIONS.md, where Aslan must match AWS's
//! documented result and the peer must really differ.
//!
//! The test fails when the peer cannot run (it needs `node` and `npm ci` in
//! tests/peer). With `ASLAN_SKIP_PEER=1` it skips the peer, says so, and
//! checks only Aslan against the documented expectations.

use aslan_tests::{corpus, peer_dir, run_ours, run_peer, skip_peer, Outcome, SKIP_PEER_VAR};

#[test]
fn corpus_matches_peer_and_aws() {
    let cases = corpus();
    assert!(
        cases.len() >= 150,
        "the corpus must hold at least 150 cases, has {}",
        cases.len()
    );
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(&c.name), "duplicate case name {}", c.name);
        assert_eq!(
            c.expect.is_some(),
            c.peer_deviates.is_some(),
            "{}: expect and peer_deviates go together",
            c.name
        );
    }
    let deviations =
        std::fs::read_to_string(aslan_tests::repo_root().join("tests/corpus/DEVIATIONS.md")).expect("DEVIATIONS.md");
    let mut failures = Vec::new();
    let ours: Vec<Outcome> = cases.iter().map(run_ours).collect();
    for (c, o) in cases.iter().zip(&ours) {
        if let Some(e) = &c.expect {
            let want = Outcome::from_json(e);
            if !o.same(&want) {
                failures.push(format!("{}: Aslan gave {o:?}, AWS documents {want:?}", c.name));
            }
            if !deviations.contains(&c.name) {
                failures.push(format!(
                    "{}: deviates from the peer but is not listed in DEVIATIONS.md",
                    c.name
                ));
            }
        }
    }
    match (skip_peer(), peer_dir()) {
        (true, _) => eprintln!(
            "differential: SKIPPED the comparison with aws-local-stepfunctions ({SKIP_PEER_VAR}=1); \
             checked only Aslan against the documented expectations"
        ),
        (false, Err(why)) => panic!(
            "the peer cannot run: {why}. Install Node.js and run `npm ci --no-audit --no-fund` in \
             tests/peer, or set {SKIP_PEER_VAR}=1 to skip the comparison"
        ),
        (false, Ok(_)) => {
            let peer = run_peer(&cases);
            let mut agreed = 0;
            for (c, o) in cases.iter().zip(&ours) {
                let Some(p) = peer.get(&c.name) else {
                    failures.push(format!("{}: the peer gave no result", c.name));
                    continue;
                };
                match (&c.peer_deviates, o.same(p)) {
                    (None, true) => agreed += 1,
                    (None, false) => failures.push(format!("{}: Aslan gave {o:?}, the peer {p:?}", c.name)),
                    (Some(_), true) => failures.push(format!(
                        "{}: listed as a peer deviation but both agree on {o:?}",
                        c.name
                    )),
                    (Some(_), false) => {}
                }
            }
            eprintln!(
                "differential: {agreed} of {} cases agree with aws-local-stepfunctions",
                cases.len()
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
