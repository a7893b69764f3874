//! The AWS managed policies the sandbox knows, with their documents as AWS
//! publishes them (AWS Managed Policy Reference Guide). `AttachRolePolicy`
//! accepts only these: attaching an AWS managed policy whose document the
//! sandbox does not have would grant nothing while looking as if it did.

use serde_json::{Value, json};

/// The document of the AWS managed policy `arn`, if the sandbox knows it.
pub fn document(arn: &str) -> Option<Value> {
    let name = arn.strip_prefix("arn:aws:iam::aws:policy/")?;
    Some(match name {
        "AdministratorAccess" => json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        }),
        "IAMReadOnlyAccess" => json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails", "iam:Get*", "iam:List*", "iam:SimulateCustomPolicy", "iam:SimulatePrincipalPolicy"], "Resource": "*"}]
        }),
        "service-role/AWSLambdaBasicExecutionRole" => json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]
        }),
        "service-role/AWSLambdaDynamoDBExecutionRole" => json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]
        }),
        "AmazonAPIGatewayInvokeFullAccess" => json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["execute-api:Invoke", "execute-api:ManageConnections"], "Resource": "arn:aws:execute-api:*:*:*"}]
        }),
        _ => return None,
    })
}
