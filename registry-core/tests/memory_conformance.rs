//! The in-memory fakes (stores and the audit log) pass the conformance suite.
use std::sync::Arc;

use registry_core::memory::{InMemoryPinStore, InMemoryStorage, InMemoryTokenStore};
use registry_core::{PinStore, Storage, TokenStore};

mod storage {
    use super::*;
    registry_core::storage_conformance_tests!(|| async {
        Arc::new(InMemoryStorage::new()) as Arc<dyn Storage>
    });
}

mod tokens {
    use super::*;
    registry_core::token_store_conformance_tests!(|| async {
        Arc::new(InMemoryTokenStore::new()) as Arc<dyn TokenStore>
    });
}

mod pins {
    use super::*;
    registry_core::pin_store_conformance_tests!(|| async {
        Arc::new(InMemoryPinStore::new()) as Arc<dyn PinStore>
    });
}

mod catalogue {
    registry_core::catalogue_store_conformance_tests!(|| async {
        std::sync::Arc::new(registry_core::catalogue::InMemoryCatalogueStore::new())
            as std::sync::Arc<dyn registry_core::CatalogueStore>
    });
}

mod audit {
    registry_core::audit_log_conformance_tests!(|| async {
        std::sync::Arc::new(registry_core::audit::InMemoryAuditLog::new())
            as std::sync::Arc<dyn registry_core::audit::AuditLog>
    });
}
