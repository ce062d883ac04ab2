//! The walls seen from inside a walled box and from the host.

use stockade_proto::Limits;

use crate::support::{TestTree, run_walled, walled};

#[tokio::test]
async fn smoke() {
    let Some(tree) = TestTree::new("wsmoke") else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = walled("w/1", &["sh", "-c", "id; grep -E 'Cap|NoNew|Seccomp' /proc/self/status; echo pid=$$; ls /proc; hostname; env; mount | head -50; ls -la /"], Limits::default(), dir.path());
    let (o, e, status) = run_walled(&tree.sandbox, s).await;
    println!("{o}\n---\n{e}\n{status:?}");
    panic!("show");
}
