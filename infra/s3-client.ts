/** The S3 client the operator tools use, set up to work with any S3-compatible server. */

import { S3Client } from "@aws-sdk/client-s3";

export interface S3Target {
  endpoint: string;
  bucket: string;
  region: string;
  virtualHost: boolean;
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3Client(target: S3Target): S3Client {
  const s3 = new S3Client({
    endpoint: target.endpoint,
    region: target.region === "auto" ? "us-east-1" : target.region,
    forcePathStyle: !target.virtualHost,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    // Plain signed requests: not every S3-compatible server takes aws-chunked bodies with checksum trailers.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  // With path-style addressing the SDK sends (and signs) bucket-level requests as "/bucket/"; some
  // S3-compatible servers verify the signature over "/bucket". Both mean the same to S3, so send the
  // form every server signs alike.
  s3.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { path?: string };
      if (!target.virtualHost && request.path === `/${target.bucket}/`) request.path = `/${target.bucket}`;
      return next(args);
    },
    { step: "build", name: "pkgedgeBucketPath" },
  );
  return s3;
}
