//! Aslan's own operations for WebAssembly modules (not part of AWS's API):
//! `AslanPutModule`, `AslanListModules` and `AslanDeleteModule`, with the
//! same protocol and signing as the Step Functions operations. Modules are
//! kept in the store, so a restarted server has them again. Large modules
//! go to `POST /aslan/modules` (bodies up to 64 MiB); `POST /` keeps the
//! API's usual limit.

#[cfg(feature = "wasm")]
use super::error::{ApiError, ErrorKind as Kind};
use super::Api;
#[cfg(feature = "wasm")]
use super::{str_field, ApiResult};
#[cfg(feature = "wasm")]
use serde_json::{json, Value};

/// The largest module the API accepts, in bytes.
pub const MAX_MODULE_BYTES: usize = 48 * 1024 * 1024;

#[cfg(feature = "wasm")]
fn host(api: &Api) -> Result<std::sync::Arc<crate::wasm::WasmHost>, ApiError> {
    api.engine
        .tasks()
        .wasm()
        .cloned()
        .ok_or_else(|| ApiError::validation("this server has no WebAssembly host"))
}

/// A module's listing entry.
#[cfg(feature = "wasm")]
pub fn record(m: &crate::wasm::WasmModule) -> Value {
    json!({
        "name": m.name,
        "sha256": m.sha256,
        "size": m.size,
        "world": m.world(),
        "config": {
            "deadline_ms": m.config.deadline_ms,
            "memory_mib": m.config.memory_mib,
            "allow": {
                "clusters": m.config.allow.clusters,
                "namespaces": m.config.allow.namespaces,
                "methods": m.config.allow.methods,
                "cluster_scoped": m.config.allow.cluster_scoped,
                "eks": m.config.allow.eks,
            },
        },
    })
}

impl Api {
    /// `AslanPutModule {"name", "module": base64, "config"?}`: compiles,
    /// registers and stores a module (replacing one of that name).
    #[cfg(feature = "wasm")]
    pub async fn put_module(&self, req: &Value) -> ApiResult {
        use base64::Engine as _;
        let name = str_field(req, "name")?.to_string();
        let b64 = str_field(req, "module")?;
        if b64.len() > MAX_MODULE_BYTES / 3 * 4 + 4 {
            return Err(ApiError::validation(format!(
                "the module is larger than {MAX_MODULE_BYTES} bytes"
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| ApiError::validation(format!("'module' is not base64: {e}")))?;
        let config: crate::wasm::ModuleConfig = match req.get("config") {
            None | Some(Value::Null) => Default::default(),
            Some(c) => serde_json::from_value(c.clone())
                .map_err(|e| ApiError::validation(format!("'config' is not a module configuration: {e}")))?,
        };
        let host = host(self)?;
        let _admin = self.admin.lock().await;
        let (n, b, c) = (name.clone(), bytes.clone(), config);
        let m = tokio::task::spawn_blocking(move || host.add_module(&n, &b, c))
            .await
            .map_err(|e| ApiError::new(Kind::InternalServerError, e.to_string()))?
            .map_err(|e| ApiError::validation(e.to_string()))?;
        let rec = record(&m);
        self.engine
            .store()
            .put_module(&name, &rec, &m.sha256, &bytes)
            .await
            .map_err(|e| ApiError::new(Kind::InternalServerError, e.to_string()))?;
        Ok(rec)
    }

    /// `AslanListModules`: every module.
    #[cfg(feature = "wasm")]
    pub fn list_modules(&self, _req: &Value) -> ApiResult {
        let modules: Vec<Value> = host(self)?.modules().iter().map(|m| record(m)).collect();
        Ok(json!({ "modules": modules }))
    }

    /// `AslanDeleteModule {"name"}`: unregisters and forgets a module.
    #[cfg(feature = "wasm")]
    pub async fn delete_module(&self, req: &Value) -> ApiResult {
        let name = str_field(req, "name")?;
        let host = host(self)?;
        let _admin = self.admin.lock().await;
        let stored = self
            .engine
            .store()
            .delete_module(name)
            .await
            .map_err(|e| ApiError::new(Kind::InternalServerError, e.to_string()))?;
        if !host.remove_module(name) && !stored {
            return Err(ApiError::new(
                Kind::ResourceNotFound,
                format!("no module named {name:?}"),
            ));
        }
        Ok(json!({}))
    }
}

/// Registers the modules kept in `store` with `host` (at startup).
#[cfg(feature = "wasm")]
pub fn load_stored(store: &crate::store::Store, host: &crate::wasm::WasmHost) -> Result<usize, String> {
    let mut n = 0;
    for rec in store.module_records().map_err(|e| e.to_string())? {
        let name = rec["name"].as_str().unwrap_or_default();
        let sha = rec["sha256"].as_str().unwrap_or_default();
        let Some(bytes) = store.module_bytes(sha).map_err(|e| e.to_string())? else {
            return Err(format!("the bytes of module {name} ({sha}) are missing from the store"));
        };
        let config = serde_json::from_value(rec["config"].clone()).unwrap_or_default();
        host.add_module(name, &bytes, config).map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}
