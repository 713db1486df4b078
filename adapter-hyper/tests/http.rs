//! Plain-TCP behaviour over a real socket: HTTP/1.1, h2c, body limits and
//! timeouts, graceful shutdown.

mod common;

use std::time::Duration;

use adapter_hyper::{ServeError, Server, ServerConfig};
use bytes::Bytes;
use common::{
    assert_get_matches_direct, assert_same, config, request, send_http1, send_http2,
    wait_until_refused, within, RawConnection, TestServer, LIMIT, TOKEN,
};
use http::Request;
use registry_core::AdapterError;
use tokio::net::{TcpListener, TcpStream};

const WELL_KNOWN: &str = "/.well-known/terraform.json";

#[tokio::test]
async fn http1_get_answers_what_the_registry_answers() {
    let server = TestServer::start(config()).await;
    assert_get_matches_direct(&server, WELL_KNOWN).await;
    assert_get_matches_direct(&server, "/v1/modules/acme/vpc/aws/versions").await;
    assert_get_matches_direct(&server, "/no/such/route").await;
    server.stop().await;
}

#[tokio::test]
async fn http1_body_within_the_limit_reaches_the_registry() {
    let server = TestServer::start(config()).await;
    let body: &'static [u8] = &[b'x'; LIMIT];
    let path = "/v1/modules/acme/vpc/aws/1.0.0";
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let wire = within(
        "PUT",
        send_http1(stream, request("PUT", path, &server.host(), body)),
    )
    .await;
    let expected = server
        .direct(request("PUT", path, &server.host(), body))
        .await;
    assert_same(&wire, &expected);
    server.stop().await;
}

#[tokio::test]
async fn http1_keep_alive_serves_several_requests_on_one_connection() {
    let server = TestServer::start(config()).await;
    let mut conn = RawConnection::connect(server.addr).await;
    let head = format!(
        "GET {WELL_KNOWN} HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.host()
    );
    let expected = server
        .direct(request("GET", WELL_KNOWN, &server.host(), b""))
        .await;
    for _ in 0..3 {
        conn.send(head.as_bytes()).await;
        let raw = within("keep-alive response", conn.read_response()).await;
        assert_same(&raw.response, &expected);
    }
    server.stop().await;
}

#[tokio::test]
async fn http1_head_gets_the_registry_headers_and_no_body() {
    let server = TestServer::start(config()).await;
    let mut conn = RawConnection::connect(server.addr).await;
    let head = format!(
        "HEAD {WELL_KNOWN} HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.host()
    );
    conn.send(head.as_bytes()).await;
    let (status, headers) = within("HEAD response", conn.read_head()).await;
    let expected = server
        .direct(request("HEAD", WELL_KNOWN, &server.host(), b""))
        .await;
    assert_eq!(status, expected.status());
    for (name, value) in expected.headers() {
        if name == "x-request-id" {
            // Each answer has its own.
            assert!(headers.contains_key(name), "no {name}");
            continue;
        }
        assert_eq!(headers.get(name), Some(value), "header {name}");
    }
    // No body followed: the next response on the connection starts right away.
    conn.send(head.as_bytes()).await;
    let (again, _) = within("second HEAD response", conn.read_head()).await;
    assert_eq!(again, expected.status());
    server.stop().await;
}

#[tokio::test]
async fn declared_content_length_above_the_limit_is_refused_before_reading() {
    let server = TestServer::start(config()).await;
    let mut conn = RawConnection::connect(server.addr).await;
    // A 5 GiB upload announced, with `Expect: 100-continue` as curl sends it. No
    // body byte is sent: an adapter that tried to read it would hang here.
    conn.send(
        format!(
            "PUT /v1/modules/acme/vpc/aws/1.0.0 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: 5368709120\r\nExpect: 100-continue\r\n\r\n",
            server.host()
        )
        .as_bytes(),
    )
    .await;
    let raw = within("413 response", conn.read_response()).await;
    assert!(raw.interim.is_empty(), "no 100 Continue for a refused body");
    assert_same(
        &raw.response,
        &server.adapter_error(AdapterError::BodyTooLarge { limit: LIMIT }),
    );

    assert_get_matches_direct(&server, WELL_KNOWN).await;
    server.stop().await;
}

/// Admission happens on the head: an upload without a token is answered `401`
/// before any of its body is read (no `100 Continue`, nothing buffered), and the
/// connection is closed, since the client may still be sending.
#[tokio::test]
async fn unauthenticated_upload_is_refused_on_its_head_and_the_connection_closed() {
    let server = TestServer::start(config()).await;
    let path = "/v1/modules/acme/vpc/aws/1.0.0";
    for auth in ["", "Authorization: Bearer tfr_not_a_token\r\n"] {
        let mut conn = RawConnection::connect(server.addr).await;
        conn.send(
            format!(
                "PUT {path} HTTP/1.1\r\nHost: {}\r\n{auth}\
                 Content-Length: 5368709120\r\nExpect: 100-continue\r\n\r\n",
                server.host()
            )
            .as_bytes(),
        )
        .await;
        let raw = within("401 response", conn.read_response()).await;
        assert!(
            raw.interim.is_empty(),
            "no 100 Continue for a refused request"
        );
        let mut expected = request("PUT", path, &server.host(), b"");
        if auth.is_empty() {
            expected.headers_mut().remove(http::header::AUTHORIZATION);
        } else {
            expected.headers_mut().insert(
                http::header::AUTHORIZATION,
                "Bearer tfr_not_a_token".parse().unwrap(),
            );
        }
        let expected = server.direct(expected).await;
        assert_eq!(expected.status(), 401);
        assert_same(&raw.response, &expected);
        assert_eq!(
            raw.response
                .headers()
                .get(http::header::CONNECTION)
                .unwrap(),
            "close"
        );
        assert!(
            within("close after the refusal", conn.read_to_end())
                .await
                .is_empty(),
            "nothing follows the refusal"
        );
    }
    assert_get_matches_direct(&server, WELL_KNOWN).await;
    server.stop().await;
}

/// A JSON route's body is held to its own (64 KiB) limit, not the upload
/// limit, and the refusal names that limit.
#[tokio::test]
async fn a_json_body_past_the_small_limit_is_refused_naming_it() {
    let server = TestServer::start(config()).await;
    let mut conn = RawConnection::connect(server.addr).await;
    let mut bytes = format!(
        "POST /v1/tokens HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.host()
    )
    .into_bytes();
    let chunk = [b' '; 1024];
    for _ in 0..=64 {
        bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    conn.send(&bytes).await;
    let raw = within("413 response", conn.read_response()).await;
    assert_eq!(raw.response.status(), 413);
    let message = registry_core::testing::error_message(&raw.response);
    assert!(
        message.contains(&format!("limit of {} bytes", 64 * 1024)),
        "{message}"
    );
    server.stop().await;
}

#[tokio::test]
async fn chunked_body_growing_past_the_limit_is_refused_while_reading() {
    let server = TestServer::start(config()).await;
    let mut conn = RawConnection::connect(server.addr).await;
    let mut bytes = format!(
        "PUT /v1/modules/acme/vpc/aws/1.0.0 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.host()
    )
    .into_bytes();
    // Chunks adding up to one byte over the limit, and no final chunk: an adapter
    // that waited for the end of the body would hang here.
    let chunk = [b'x'; 100];
    let mut sent = 0;
    while sent <= LIMIT {
        bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(b"\r\n");
        sent += chunk.len();
    }
    conn.send(&bytes).await;
    let raw = within("413 response", conn.read_response()).await;
    assert_same(
        &raw.response,
        &server.adapter_error(AdapterError::BodyTooLarge { limit: LIMIT }),
    );

    assert_get_matches_direct(&server, WELL_KNOWN).await;
    server.stop().await;
}

#[tokio::test]
async fn body_exactly_at_the_limit_is_accepted() {
    let server = TestServer::start(config()).await;
    let mut conn = RawConnection::connect(server.addr).await;
    let path = "/v1/modules/acme/vpc/aws/1.0.0";
    let body = vec![b'y'; LIMIT];
    let mut bytes = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        server.host(),
        LIMIT
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(b"\r\n0\r\n\r\n");
    conn.send(&bytes).await;
    let raw = within("response", conn.read_response()).await;
    let expected = server
        .direct(request("PUT", path, &server.host(), &[b'y'; LIMIT]))
        .await;
    assert_same(&raw.response, &expected);
    server.stop().await;
}

#[tokio::test]
async fn slow_body_gets_the_registry_timeout_response() {
    let server =
        TestServer::start(config().with_body_read_timeout(Duration::from_millis(100))).await;
    let mut conn = RawConnection::connect(server.addr).await;
    conn.send(
        format!(
            "PUT /v1/modules/acme/vpc/aws/1.0.0 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 10\r\n\r\nabc",
            server.host()
        )
        .as_bytes(),
    )
    .await;
    let raw = within("timeout response", conn.read_response()).await;
    assert_same(
        &raw.response,
        &server.adapter_error(AdapterError::BodyReadTimeout),
    );
    assert_get_matches_direct(&server, WELL_KNOWN).await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_chunked_body_gets_the_registry_read_failure_response() {
    let server = TestServer::start(config()).await;
    let mut conn = RawConnection::connect(server.addr).await;
    conn.send(
        format!(
            "PUT /v1/modules/acme/vpc/aws/1.0.0 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            server.host()
        )
        .as_bytes(),
    )
    .await;
    let raw = within("read failure response", conn.read_response()).await;
    assert_same(
        &raw.response,
        &server.adapter_error(AdapterError::BodyReadFailed),
    );
    assert_get_matches_direct(&server, WELL_KNOWN).await;
    server.stop().await;
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let server =
        TestServer::start(config().with_header_read_timeout(Duration::from_millis(100))).await;
    // Nothing at all, then half a request head.
    let mut silent = RawConnection::connect(server.addr).await;
    let mut partial = RawConnection::connect(server.addr).await;
    partial.send(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
    assert!(within("close of a silent connection", silent.read_to_end())
        .await
        .is_empty());
    within("close of a stalled head", partial.read_to_end()).await;
    // An idle keep-alive connection after a request.
    let mut idle = RawConnection::connect(server.addr).await;
    idle.send(
        format!(
            "GET {WELL_KNOWN} HTTP/1.1\r\nHost: {}\r\n\r\n",
            server.host()
        )
        .as_bytes(),
    )
    .await;
    within("response", idle.read_response()).await;
    assert!(
        within("close of an idle keep-alive connection", idle.read_to_end())
            .await
            .is_empty()
    );
    assert_get_matches_direct(&server, WELL_KNOWN).await;
    server.stop().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_answers_what_the_registry_answers() {
    let server = TestServer::start(config()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let uri = format!("http://{}{WELL_KNOWN}", server.host());
    let wire = within(
        "h2c GET",
        send_http2(stream, Request::get(uri).body(Bytes::new()).unwrap()),
    )
    .await;
    let expected = server
        .direct(request("GET", WELL_KNOWN, &server.host(), b""))
        .await;
    assert_same(&wire, &expected);
    server.stop().await;
}

#[tokio::test]
async fn h2c_body_above_the_limit_gets_the_registry_response() {
    let server = TestServer::start(config()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let uri = format!("http://{}/v1/modules/acme/vpc/aws/1.0.0", server.host());
    let body = Bytes::from(vec![b'x'; LIMIT + 1]);
    let wire = within(
        "h2c PUT",
        send_http2(
            stream,
            Request::put(uri)
                .header(http::header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(body)
                .unwrap(),
        ),
    )
    .await;
    assert_same(
        &wire,
        &server.adapter_error(AdapterError::BodyTooLarge { limit: LIMIT }),
    );
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    let mut server = TestServer::start(config()).await;
    let path = "/v1/modules/acme/vpc/aws/1.0.0";
    let mut conn = RawConnection::connect(server.addr).await;
    conn.send(
        format!(
            "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            server.host()
        )
        .as_bytes(),
    )
    .await;
    // `100 Continue` means the adapter is reading the body: the request is in flight.
    let (status, _) = within("100 Continue", conn.read_head()).await;
    assert_eq!(status, http::StatusCode::CONTINUE);

    server.trigger_shutdown();
    wait_until_refused(server.addr).await;

    conn.send(b"hello").await;
    let raw = within("in-flight response", conn.read_response()).await;
    let expected = server
        .direct(request("PUT", path, &server.host(), b"hello"))
        .await;
    assert_same(&raw.response, &expected);
    assert_eq!(
        raw.response
            .headers()
            .get(http::header::CONNECTION)
            .unwrap(),
        "close"
    );

    server.finished().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let mut server = TestServer::start(config()).await;
    let mut conn = RawConnection::connect(server.addr).await;
    conn.send(
        format!(
            "GET {WELL_KNOWN} HTTP/1.1\r\nHost: {}\r\n\r\n",
            server.host()
        )
        .as_bytes(),
    )
    .await;
    within("response", conn.read_response()).await;
    // The connection is now idle, kept alive; shutdown must not wait for it.
    server.trigger_shutdown();
    server.finished().await.unwrap();
    assert!(conn.read_to_end().await.is_empty());
}

#[tokio::test]
async fn shutdown_gives_up_on_requests_after_the_grace_period() {
    let mut server =
        TestServer::start(config().with_shutdown_grace_period(Duration::from_millis(50))).await;
    let mut conn = RawConnection::connect(server.addr).await;
    conn.send(
        format!(
            "PUT /v1/modules/acme/vpc/aws/1.0.0 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            server.host()
        )
        .as_bytes(),
    )
    .await;
    let (status, _) = within("100 Continue", conn.read_head()).await;
    assert_eq!(status, http::StatusCode::CONTINUE);
    // The body never comes; `serve` still returns and the connection is closed.
    server.trigger_shutdown();
    server.finished().await.unwrap();
    assert!(conn.read_to_end().await.is_empty());
}

#[tokio::test]
async fn bind_reports_the_address_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let error = Server::bind(ServerConfig::new(addr)).await.unwrap_err();
    assert!(matches!(error, ServeError::Bind { .. }), "{error:?}");
    assert!(error.to_string().contains(&addr.to_string()));
}
