//! The AWS services the sandbox stands in for, one module each, as
//! moto's `moto/<service>/` and LocalStack's per-service providers: each
//! owns its state, its operations (an operation table where it has more
//! than a handful) and its tests, and never touches HTTP; the front door
//! ([`crate::door`]) authenticates requests and encodes what they return.

pub mod acm;
pub mod apigateway;
pub mod cloudfront;
pub mod cognito;
pub mod dynamodb;
pub mod iam;
pub mod lambda;
pub mod route53;
pub mod s3;
pub mod sts;
