//! The values steps hand to the steps after them, typed: one field per
//! value, so a step reading what no step writes is a compile error rather
//! than a string-key typo found at run time.
//!
//! A field is empty until its step ran; in a dry run a step that would
//! create its resource leaves it empty, and readers fall back to a
//! placeholder. Fields are overwritten, not set once: `status --watch`
//! runs the `up` plan (as a dry run) on the same context again and again.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// One value, set by one step.
#[derive(Debug)]
pub struct Slot<T>(Mutex<Option<T>>);

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot(Mutex::new(None))
    }
}

impl<T: Clone> Slot<T> {
    /// Records the value.
    pub fn set(&self, value: impl Into<T>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(value.into());
    }

    /// The value, if its step set one.
    pub fn get(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One value per region, set by a regional step.
#[derive(Debug)]
pub struct PerRegion<T>(Mutex<BTreeMap<String, T>>);

impl<T> Default for PerRegion<T> {
    fn default() -> Self {
        PerRegion(Mutex::new(BTreeMap::new()))
    }
}

impl<T: Clone> PerRegion<T> {
    /// Records `region`'s value.
    pub fn set(&self, region: &str, value: impl Into<T>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(region.to_owned(), value.into());
    }

    /// `region`'s value, if its step set one.
    pub fn get(&self, region: &str) -> Option<T> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(region)
            .cloned()
    }
}

/// Everything the `up` plan's steps hand on (ids, ARNs, domain names).
#[derive(Debug, Default)]
pub struct Outputs {
    /// The public hosted zone's id (without `/hostedzone/`).
    pub zone_id: Slot<String>,
    /// The CloudFront distribution's id.
    pub distribution_id: Slot<String>,
    /// The web UI's origin (scheme, host, port), for CORS and config.js.
    pub web_origin: Slot<String>,
    /// Each region's Cognito identity pool id.
    pub pool_id: PerRegion<String>,
    /// The primary's health check id.
    pub health_check_id: Slot<String>,
    /// The Lambda execution role's ARN.
    pub lambda_role_arn: Slot<String>,
    /// The signed-in users' role's ARN.
    pub auth_role_arn: Slot<String>,
    /// Each region's function ARN.
    pub function_arn: PerRegion<String>,
    /// Each region's REST API id.
    pub api_id: PerRegion<String>,
    /// Each region's certificate ARN.
    pub certificate_arn: PerRegion<String>,
    /// Each region's API Gateway target for the shared API domain.
    pub domain_target: PerRegion<String>,
    /// Each region's API Gateway target for its own `<region>.api.` domain.
    pub domain_own: PerRegion<String>,
}
