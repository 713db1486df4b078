output "registry_url" {
  description = "The registry's base URL."
  value       = "https://${local.registry_host}"
}

output "registry_host" {
  description = "The host name to use in module sources (HOST/NAMESPACE/NAME/SYSTEM) and in the CLI config's credentials block."
  value       = local.registry_host
}

output "api_endpoint" {
  description = "The HTTP API's own execute-api URL (also with a custom domain, unless disabled)."
  value       = aws_apigatewayv2_api.registry.api_endpoint
}

output "custom_domain_target" {
  description = "With domain_name but no route53_zone_id: point a CNAME for domain_name at this name. null otherwise."
  value       = local.custom_domain ? aws_apigatewayv2_domain_name.registry[0].domain_name_configuration[0].target_domain_name : null
}

output "master_token" {
  description = "The master token. Read it with `terraform output -raw master_token`."
  value       = local.master_token
  sensitive   = true
}

output "bucket" {
  description = "The bucket holding the modules and tokens."
  value       = aws_s3_bucket.registry.id
}

output "lambda_function_name" {
  description = "The Lambda function's name."
  value       = aws_lambda_function.registry.function_name
}

output "log_group" {
  description = "The CloudWatch log group the function logs to."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "terraform_cli_config" {
  description = "A Terraform CLI config block (~/.terraformrc) for this registry; put a token in place of the placeholder."
  value       = <<-EOT
    credentials "${local.registry_host}" {
      # A downloader token (see the README), or the master token:
      # terraform output -raw master_token
      token = "tfr_..."
    }
  EOT
}
