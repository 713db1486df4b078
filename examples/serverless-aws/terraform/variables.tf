variable "name" {
  description = "Prefix for every resource name (Lambda function, IAM role, log group, API, bucket)."
  type        = string
  default     = "terraform-registry"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "Use 2 to 32 lowercase letters, digits and hyphens, not starting or ending with a hyphen (the bucket name is derived from it)."
  }
}

variable "region" {
  description = "AWS region to deploy to. null: the region of your AWS configuration (AWS_REGION, the profile)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource (the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "lambda_zip" {
  description = "The zip made by `cargo lambda build --profile lambda --arm64 --output-format zip -p serverless-aws`. null: target/lambda/serverless-aws/bootstrap.zip at the repository root."
  type        = string
  default     = null
}

variable "memory_size" {
  description = "Lambda memory in MB (CPU grows with it)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "Lambda accepts 128 to 10240 MB."
  }
}

variable "timeout" {
  description = "Lambda timeout in seconds. API Gateway HTTP APIs wait at most 30 s for an integration."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 30
    error_message = "Use 1 to 30 seconds: the HTTP API gives up after 30 s anyway."
  }
}

variable "log_retention_days" {
  description = "How long CloudWatch keeps the Lambda's logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "Use a retention CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days."
  }
}

variable "anonymous_reads" {
  description = "Let requests without a token list versions and download modules (TFR_ANONYMOUS_READS)."
  type        = bool
  default     = false
}

variable "archive_url_ttl_secs" {
  description = "Lifetime of the signed (or presigned S3) archive URLs handed to Terraform (TFR_ARCHIVE_URL_TTL_SECS)."
  type        = number
  default     = 300

  validation {
    condition     = var.archive_url_ttl_secs >= 1 && var.archive_url_ttl_secs <= 604800
    error_message = "Use 1 to 604800 seconds (7 days)."
  }
}

variable "read_cache_ttl_ms" {
  description = "How long each function instance keeps token lookups, version lists and archive locations in memory (TFR_READ_CACHE_TTL_MS); other instances see a publish, delete or revoked token within this time. 0 turns the cache off."
  type        = number
  default     = 1000

  validation {
    condition     = var.read_cache_ttl_ms >= 0 && var.read_cache_ttl_ms <= 60000
    error_message = "Use 0 to 60000 milliseconds."
  }
}

variable "max_body_bytes" {
  description = "Largest upload in bytes (TFR_MAX_BODY_BYTES). null: the function's default, 4 MiB. Lambda refuses requests over 6 MB and binary bodies arrive base64-encoded, hence the 4718592 (4.5 MiB) ceiling."
  type        = number
  default     = null

  validation {
    condition     = var.max_body_bytes == null ? true : var.max_body_bytes >= 1 && var.max_body_bytes <= 4718592
    error_message = "Use 1 to 4718592 bytes (4.5 MiB): Lambda's 6 MB request limit leaves no room for more."
  }
}

variable "serve_archives_through_registry" {
  description = "Serve archive bytes through the function (URLs signed with the module's signing key) instead of handing Terraform presigned S3 URLs (TFR_S3_SERVE_THROUGH_REGISTRY). For clients that cannot reach S3; Lambda's 6 MB response limit then caps archive size."
  type        = bool
  default     = false
}

variable "s3_prefix" {
  description = "Key prefix for everything the registry stores in the bucket (TFR_S3_PREFIX), e.g. \"terraform/\". Empty: the bucket's root. The Lambda's S3 permissions are limited to it."
  type        = string
  default     = ""

  validation {
    condition     = !startswith(var.s3_prefix, "/")
    error_message = "S3 keys do not start with '/': drop the leading '/'."
  }
}

variable "bucket_name" {
  description = "Name of the bucket to create. null: \"<name>-\" followed by a unique suffix."
  type        = string
  default     = null
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the bucket with every module, token and old version in it. Leave false unless you mean to lose them."
  type        = bool
  default     = false
}

variable "bucket_versioning" {
  description = "Keep overwritten and deleted objects (modules, tokens) for noncurrent_version_retention_days, so a mistaken delete can be undone."
  type        = bool
  default     = true
}

variable "noncurrent_version_retention_days" {
  description = "With bucket_versioning: days before an overwritten or deleted object's old version is removed for good."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "Use at least 1 day."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the HTTP API lets through (a cap on cost and abuse)."
  type        = number
  default     = 50
}

variable "throttling_burst_limit" {
  description = "Burst of requests the HTTP API lets through above the rate limit."
  type        = number
  default     = 100
}

variable "domain_name" {
  description = "Optional custom host name for the registry, e.g. \"registry.example.com\". null: the API's execute-api host name."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "With domain_name: an issued ACM certificate for it, in the deployment's region. null: one is requested and validated through route53_zone_id."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "With domain_name: the Route 53 hosted zone for it. When set, the module creates the alias record (and the certificate's validation record). null: you create a CNAME to the custom_domain_target output yourself."
  type        = string
  default     = null
}

variable "disable_execute_api_endpoint" {
  description = "With domain_name: turn off the default execute-api URL so the registry answers only on the custom domain."
  type        = bool
  default     = false
}

variable "upstream" {
  description = "TFR_UPSTREAM: \"off\"; \"pin\" (the master token copies vetted versions of an upstream registry into the bucket: POST /v1/pins/...); \"proxy\" (modules with no version here are also served live from the upstream, and pinning works); or \"github\" (modules with no version here are served from GitHub repositories' SemVer tags, archives fetched with the github_* credentials and served through the function). A module with any version here is never mixed with upstream versions."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "pin", "proxy", "github"], var.upstream)
    error_message = "Use \"off\", \"pin\", \"proxy\" or \"github\"."
  }
}

variable "upstream_url" {
  description = "The upstream registry (TFR_UPSTREAM_URL), with upstream = \"pin\" or \"proxy\"."
  type        = string
  default     = "https://registry.terraform.io"
}

variable "proxy_allow" {
  description = "Modules that may come from the upstream (TFR_PROXY_ALLOW): prefixes by whole segments, \"namespace\", \"namespace/name\" or \"namespace/name/system\". Empty: all not denied."
  type        = list(string)
  default     = []
}

variable "proxy_deny" {
  description = "Modules that never come from the upstream (TFR_PROXY_DENY), as for proxy_allow; wins over it. Deny your own namespaces."
  type        = list(string)
  default     = []
}

variable "github_token" {
  description = "With upstream = \"github\": a personal access token for the repositories (TFR_GITHUB_TOKEN). null: a GitHub App (github_app_id) or, for public repositories, no credentials."
  type        = string
  default     = null
  sensitive   = true
}

variable "github_app_id" {
  description = "With upstream = \"github\": the GitHub App's id or client id (TFR_GITHUB_APP_ID), with github_app_private_key."
  type        = string
  default     = null
}

variable "github_app_private_key" {
  description = "The GitHub App's private key, PEM (TFR_GITHUB_APP_PRIVATE_KEY). It lives in the function's environment and the Terraform state: protect both."
  type        = string
  default     = null
  sensitive   = true
}

variable "github_app_installation_id" {
  description = "The GitHub App's installation id (TFR_GITHUB_APP_INSTALLATION_ID). null: discovered per repository owner."
  type        = number
  default     = null
}

variable "github_repo_template" {
  description = "How ns/name/system maps to a repository (TFR_GITHUB_REPO_TEMPLATE). null: {namespace}/terraform-{system}-{name}."
  type        = string
  default     = null
}

variable "github_cache_archives" {
  description = "Keep every archive fetched from GitHub in the bucket under github-cache/ (TFR_GITHUB_CACHE_ARCHIVES), so each version is fetched from GitHub once."
  type        = bool
  default     = true
}

variable "token_exchange" {
  description = "Token exchange settings, as an object that is the JSON document --exchange-config takes (registry-settings' identity module; examples in the README): `oidc = { issuers = [{ issuer, audience, rules }] }` for CI OIDC tokens, `aws = { server_id, rules }` for AWS IAM identities. null: both exchanges off (POST /v1/exchange/* answer 404)."
  type        = any
  default     = null

  validation {
    condition     = var.token_exchange == null || can(var.token_exchange.oidc) || can(var.token_exchange.aws)
    error_message = "token_exchange needs an oidc or an aws section (or leave it null)."
  }

  validation {
    # Lambda allows 4 KB for all environment variables together.
    condition     = var.token_exchange == null || length(jsonencode(var.token_exchange)) <= 3000
    error_message = "token_exchange is longer than 3000 characters as JSON; Lambda's environment holds 4 KB in all. Use fewer, broader rules (patterns, {claim} namespaces)."
  }
}

variable "audit_log" {
  description = "Record every publish, delete, pin, token change and exchange in the bucket (under audit/, one object per event), readable with the master token at GET /v1/audit."
  type        = bool
  default     = true
}
