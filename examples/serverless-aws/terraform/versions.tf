terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.0"
    }
  }
}

# The region comes from var.region, else from the usual AWS configuration
# (AWS_REGION, AWS_DEFAULT_REGION, the profile's region).
provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}
