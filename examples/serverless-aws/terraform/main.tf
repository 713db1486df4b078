# The serverless registry: one Lambda behind an API Gateway HTTP API, modules and
# tokens in one S3 bucket. No VPC, NAT, DynamoDB table or Secrets Manager secret:
# with no traffic, the only cost is the bucket's storage (and the logs kept).

locals {
  lambda_zip = coalesce(var.lambda_zip, "${path.module}/../../../target/lambda/serverless-aws/bootstrap.zip")

  # As the registry reads TFR_S3_PREFIX: no leading "/", one trailing "/".
  s3_prefix = var.s3_prefix == "" || endswith(var.s3_prefix, "/") ? var.s3_prefix : "${var.s3_prefix}/"

  custom_domain      = var.domain_name != null
  create_certificate = local.custom_domain && var.certificate_arn == null

  # Tokens look like the registry's own: "tfr_" and 43 letters and digits (~256 bits).
  master_token = "tfr_${random_password.master.result}"

  registry_host = local.custom_domain ? var.domain_name : trimprefix(aws_apigatewayv2_api.registry.api_endpoint, "https://")

  # Unset optional variables are left out, so the registry applies its defaults.
  lambda_environment = {
    TFR_S3_BUCKET                  = aws_s3_bucket.registry.id
    TFR_S3_PREFIX                  = local.s3_prefix == "" ? null : local.s3_prefix
    TFR_MASTER_TOKEN_SHA256        = sha256(local.master_token)
    TFR_SIGNING_KEY                = sensitive(random_id.signing_key.hex)
    TFR_ARCHIVE_URL_TTL_SECS       = tostring(var.archive_url_ttl_secs)
    TFR_ANONYMOUS_READS            = tostring(var.anonymous_reads)
    TFR_READ_CACHE_TTL_MS          = tostring(var.read_cache_ttl_ms)
    TFR_S3_SERVE_THROUGH_REGISTRY  = tostring(var.serve_archives_through_registry)
    TFR_MAX_BODY_BYTES             = var.max_body_bytes == null ? null : tostring(var.max_body_bytes)
    TFR_UPSTREAM                   = var.upstream
    TFR_UPSTREAM_URL               = contains(["pin", "proxy"], var.upstream) ? var.upstream_url : null
    TFR_GITHUB_TOKEN               = var.upstream == "github" ? var.github_token : null
    TFR_GITHUB_APP_ID              = var.upstream == "github" ? var.github_app_id : null
    TFR_GITHUB_APP_PRIVATE_KEY     = var.upstream == "github" ? var.github_app_private_key : null
    TFR_GITHUB_APP_INSTALLATION_ID = var.upstream == "github" && var.github_app_installation_id != null ? tostring(var.github_app_installation_id) : null
    TFR_GITHUB_REPO_TEMPLATE       = var.upstream == "github" ? var.github_repo_template : null
    TFR_GITHUB_CACHE_ARCHIVES      = var.upstream == "github" ? tostring(var.github_cache_archives) : null
    TFR_PROXY_ALLOW                = var.upstream == "off" || length(var.proxy_allow) == 0 ? null : join(",", var.proxy_allow)
    TFR_PROXY_DENY                 = var.upstream == "off" || length(var.proxy_deny) == 0 ? null : join(",", var.proxy_deny)
    TFR_EXCHANGE_CONFIG            = var.token_exchange == null ? null : jsonencode(var.token_exchange)
    TFR_NO_AUDIT_LOG               = var.audit_log ? null : "true"
  }
}

# --- secrets. Both live in the Terraform state in clear text: protect the state.

# The master token. Only its SHA-256 reaches the Lambda; read the token with
# `terraform output -raw master_token`. A new one: `terraform apply -replace=random_password.master`.
resource "random_password" "master" {
  length  = 43
  special = false
}

# Signs archive download URLs when archives are served through the function
# (serve_archives_through_registry); set always, so every instance shares one key.
# Replacing it invalidates the URLs already handed out, nothing else.
resource "random_id" "signing_key" {
  byte_length = 32
}

# --- the bucket: private, encrypted, TLS only

resource "aws_s3_bucket" "registry" {
  bucket        = var.bucket_name
  bucket_prefix = var.bucket_name == null ? "${var.name}-" : null
  force_destroy = var.bucket_force_destroy
}

resource "aws_s3_bucket_ownership_controls" "registry" {
  bucket = aws_s3_bucket.registry.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "registry" {
  bucket = aws_s3_bucket.registry.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# SSE-S3: no KMS key to pay for, no KMS permissions to grant.
resource "aws_s3_bucket_server_side_encryption_configuration" "registry" {
  bucket = aws_s3_bucket.registry.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Versioning is on by default. A published version is immutable and the registry
# never overwrites modules, so old versions only come from deletes (DELETE of a
# module version, a revoked token, or a mistake in the console or CLI). Keeping
# those for noncurrent_version_retention_days costs next to nothing (the objects
# are small and few) and makes a mistaken delete recoverable. Without versioning
# (bucket_versioning = false) a delete is final.
#
# Destroying this resource (bucket_versioning true -> false) suspends versioning;
# S3 never turns it off completely once it was on.
resource "aws_s3_bucket_versioning" "registry" {
  count  = var.bucket_versioning ? 1 : 0
  bucket = aws_s3_bucket.registry.id

  versioning_configuration {
    status = "Enabled"
  }
}

# Old versions and leftover delete markers go away after the retention period, so
# versioning does not make the bill grow over time.
resource "aws_s3_bucket_lifecycle_configuration" "registry" {
  count  = var.bucket_versioning ? 1 : 0
  bucket = aws_s3_bucket.registry.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.registry]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.registry.arn, "${aws_s3_bucket.registry.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOutdatedTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.registry.arn, "${aws_s3_bucket.registry.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "registry" {
  bucket = aws_s3_bucket.registry.id
  policy = data.aws_iam_policy_document.bucket.json

  # S3 refuses concurrent changes to one bucket's settings.
  depends_on = [aws_s3_bucket_public_access_block.registry]
}

# --- the Lambda's role: its own log group, and its bucket (prefix) only

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${var.name}-lambda"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

# Made here, not by Lambda on first use, so it has a retention and the role needs
# no logs:CreateLogGroup. This is the name Lambda logs to by default.
resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

# Instead of the managed AWSLambdaBasicExecutionRole, which may write to every log
# group in the account: streams and events in this function's group only.
data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.logs.json
}

# What storage-s3 calls: ListObjectsV2, HeadObject and GetObject (and presigned
# GetObject URLs, which act with this role's rights), PutObject, DeleteObject.
data "aws_iam_policy_document" "bucket_access" {
  statement {
    sid       = "ListRegistryKeys"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.registry.arn]

    dynamic "condition" {
      for_each = local.s3_prefix == "" ? [] : [local.s3_prefix]
      content {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${condition.value}*"]
      }
    }
  }

  statement {
    sid       = "ReadWriteRegistryObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.registry.arn}/${local.s3_prefix}*"]
  }
}

resource "aws_iam_role_policy" "bucket_access" {
  name   = "registry-bucket"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.bucket_access.json
}

# --- the function

resource "aws_lambda_function" "registry" {
  function_name    = var.name
  description      = "Terraform module registry (serverless-aws)"
  role             = aws_iam_role.lambda.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = local.lambda_zip
  source_code_hash = filebase64sha256(local.lambda_zip)
  memory_size      = var.memory_size
  timeout          = var.timeout

  environment {
    variables = { for k, v in local.lambda_environment : k => v if v != null }
  }

  # The log group and the permissions must exist before the first invocation, or
  # Lambda would create the group itself, with no retention.
  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.logs,
    aws_iam_role_policy.bucket_access,
  ]
}

# --- the HTTP API: every route goes to the function

resource "aws_apigatewayv2_api" "registry" {
  name                         = var.name
  description                  = "Terraform module registry"
  protocol_type                = "HTTP"
  disable_execute_api_endpoint = var.disable_execute_api_endpoint

  lifecycle {
    precondition {
      condition     = !var.disable_execute_api_endpoint || local.custom_domain
      error_message = "disable_execute_api_endpoint needs domain_name: otherwise the registry would have no URL at all."
    }
  }
}

resource "aws_apigatewayv2_integration" "lambda" {
  api_id                 = aws_apigatewayv2_api.registry.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.registry.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = var.timeout * 1000
}

resource "aws_apigatewayv2_route" "default" {
  api_id    = aws_apigatewayv2_api.registry.id
  route_key = "$default"
  target    = "integrations/${aws_apigatewayv2_integration.lambda.id}"
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.registry.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.registry.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.registry.execution_arn}/*/*"
}

# --- optional custom domain

# Requested only when domain_name is set without certificate_arn; validated by a
# DNS record in route53_zone_id.
resource "aws_acm_certificate" "registry" {
  count             = local.create_certificate ? 1 : 0
  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.route53_zone_id != null
      error_message = "domain_name without certificate_arn needs route53_zone_id, to validate the certificate the module requests. Or pass certificate_arn: an issued ACM certificate for domain_name in this region."
    }
  }
}

resource "aws_route53_record" "certificate_validation" {
  count           = local.create_certificate ? 1 : 0
  zone_id         = var.route53_zone_id
  name            = one(aws_acm_certificate.registry[0].domain_validation_options).resource_record_name
  type            = one(aws_acm_certificate.registry[0].domain_validation_options).resource_record_type
  records         = [one(aws_acm_certificate.registry[0].domain_validation_options).resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "registry" {
  count                   = local.create_certificate ? 1 : 0
  certificate_arn         = aws_acm_certificate.registry[0].arn
  validation_record_fqdns = [aws_route53_record.certificate_validation[0].fqdn]
}

resource "aws_apigatewayv2_domain_name" "registry" {
  count       = local.custom_domain ? 1 : 0
  domain_name = var.domain_name

  domain_name_configuration {
    certificate_arn = local.create_certificate ? aws_acm_certificate_validation.registry[0].certificate_arn : var.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "registry" {
  count       = local.custom_domain ? 1 : 0
  api_id      = aws_apigatewayv2_api.registry.id
  domain_name = aws_apigatewayv2_domain_name.registry[0].id
  stage       = aws_apigatewayv2_stage.default.id
}

resource "aws_route53_record" "registry" {
  count   = local.custom_domain && var.route53_zone_id != null ? 1 : 0
  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_apigatewayv2_domain_name.registry[0].domain_name_configuration[0].target_domain_name
    zone_id                = aws_apigatewayv2_domain_name.registry[0].domain_name_configuration[0].hosted_zone_id
    evaluate_target_health = false
  }
}
