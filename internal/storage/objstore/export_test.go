package objstore

// SetS3PageSize caps ListObjectsV2 pages, so that tests exercise pagination
// without writing thousands of objects.
func SetS3PageSize(s *S3, n int32) { s.pageSize = n }
