//! What `stockade scale` and `stockade stop NAME[N]` leave for the next
//! daemon: scaled services and held replicas survive a reopen, and each
//! write that forgets them does.

use crate::setup::Scratch;
use stockade_store::{Scale, Write};

fn held(service: &str, replica: u32, held: bool) -> Write {
    Write::ReplicaHeld { service: service.into(), replica, held }
}

#[tokio::test]
async fn scales_and_held_replicas_survive_a_reopen_until_forgotten() {
    let scratch = Scratch::new();
    let store = scratch.open();
    assert!(store.scaled_services().unwrap().is_empty());
    assert!(store.held_replicas().unwrap().is_empty());
    let five = Scale { replicas: 5, spec_replicas: 2 };
    store
        .apply(vec![
            Write::ServiceScaled { service: "worker".into(), scale: Some(five) },
            Write::ServiceScaled {
                service: "web".into(),
                scale: Some(Scale { replicas: 1, spec_replicas: 3 }),
            },
            held("worker", 2, true),
            held("worker", 4, true),
            held("worker", 3, true),
            held("web", 0, true),
            // A second stop of the same replica is one row.
            held("worker", 2, true),
        ])
        .await
        .unwrap();
    drop(store);

    let store = scratch.open();
    let scaled = store.scaled_services().unwrap();
    assert_eq!(scaled.len(), 2, "{scaled:?}");
    assert_eq!(scaled.get("worker"), Some(&five));
    let expected = [("web", 0), ("worker", 2), ("worker", 3), ("worker", 4)];
    let rows = |store: &stockade_store::Store| store.held_replicas().unwrap();
    assert_eq!(rows(&store), expected.map(|(s, r)| (s.to_owned(), r)));

    // Scaling worker to 3 releases worker[3] and worker[4]; a start of
    // worker[2] releases it; web scaled back to its spec forgets the scale.
    store
        .apply(vec![
            Write::ServiceScaled {
                service: "worker".into(),
                scale: Some(Scale { replicas: 3, spec_replicas: 2 }),
            },
            Write::ReplicasReleased { service: "worker".into(), from: 3 },
            held("worker", 2, false),
            Write::ServiceScaled { service: "web".into(), scale: None },
        ])
        .await
        .unwrap();
    drop(store);

    let store = scratch.open();
    let scaled = store.scaled_services().unwrap();
    assert_eq!(
        scaled.into_iter().collect::<Vec<_>>(),
        [("worker".to_owned(), Scale { replicas: 3, spec_replicas: 2 })]
    );
    assert_eq!(rows(&store), [("web".to_owned(), 0)]);
    store.apply(vec![Write::ReplicasReleased { service: "web".into(), from: 0 }]).await.unwrap();
    assert!(store.held_replicas().unwrap().is_empty());
}
