//! With `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` set, lambda_http leaves the stage
//! out of the URI; routing must not depend on it. Its own test binary, as it
//! sets a process-wide variable.

mod common;

use common::{data, get_event, harness, invoke, status, Kind};

#[tokio::test]
async fn routing_is_the_same_with_lambda_http_ignoring_the_stage() {
    std::env::set_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true");
    let h = harness(1 << 20);
    for event in [
        data("apigw_rest_stage_in_path.json"),
        get_event(Kind::Rest, "/.well-known/terraform.json", "", false),
        get_event(Kind::Http, "/.well-known/terraform.json", "", false),
    ] {
        let response = invoke(h.registry(), &event).await;
        assert_eq!(status(&response), 200, "{response}");
    }
}
