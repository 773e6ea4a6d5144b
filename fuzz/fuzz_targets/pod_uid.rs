//! Pod UIDs and path components: nothing invalid may ever become a path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podns_core::{PodUid, RelPath, validate_component};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(pod) = PodUid::new(text.as_ref()) {
        let name = pod.as_str();
        assert!(!name.is_empty() && name.len() <= 255);
        assert!(!name.contains('/') && !name.contains('\0'));
        assert!(name != "." && name != "..");
    }
    if validate_component(&text).is_ok() {
        assert!(!text.contains('/'));
    }
    if let Ok(path) = RelPath::parse(&text) {
        assert!(
            path.components()
                .all(|component| validate_component(component).is_ok())
        );
    }
});
