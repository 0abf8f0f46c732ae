package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Config says where an S3 store keeps its objects.
type S3Config struct {
	// Endpoint is the service URL with its scheme, such as
	// "http://127.0.0.1:7070"; empty means AWS.
	Endpoint string
	Bucket   string
	// Region defaults to the SDK's default chain (AWS_REGION, ~/.aws/config)
	// and then to "us-east-1", which S3-compatible servers accept.
	Region string
	// AccessKey and SecretKey are static credentials. If AccessKey is empty
	// the SDK's default chain is used (environment, shared files, instance
	// roles).
	AccessKey string
	SecretKey string
	// PathStyle addresses the bucket as endpoint/bucket rather than
	// bucket.endpoint, as most self-hosted servers need.
	PathStyle bool
	// Prefix, if set, is prepended with a "/" to every key, so that several
	// clusters or tests can share a bucket. It must itself be a valid key.
	Prefix string
}

// S3 is a Store on an S3 bucket, for AWS or any S3-compatible server.
//
// Transient failures are retried by the SDK's standard retryer, which backs
// off between attempts and gives up as soon as ctx ends; callers bound every
// call with ctx.
//
// Objects in the bucket (under Prefix) whose keys are not valid keys, such
// as the "dir/" markers consoles create, are skipped by List: they cannot
// have been written through this package.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends in "/"
	// pageSize, when set by tests, caps ListObjectsV2 pages, to exercise
	// pagination without thousands of objects.
	pageSize int32
}

var _ Store = (*S3)(nil)

// NewS3 connects to the bucket and checks that it is reachable.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("open S3 object store: no bucket given")
	}
	if cfg.Endpoint != "" && !strings.Contains(cfg.Endpoint, "://") {
		return nil, fmt.Errorf("open S3 object store: endpoint %q has no scheme (http:// or https://)", cfg.Endpoint)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return nil, fmt.Errorf("open S3 object store: prefix: %w", err)
		}
		prefix += "/"
	}

	opts := []func(*config.LoadOptions) error{
		// The SDK's default since 2025 adds CRC checksums to every upload
		// using aws-chunked trailers, which many S3-compatible servers
		// reject or mishandle. Put sends Content-MD5 instead, which every
		// server verifies, and reads are checked by the CRCs in Weir's own
		// object format.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				// The standard retryer's client-side retry quota is shared
				// by every call of the process: one burst of 5xx during an
				// S3 brownout would drain it and make unrelated fetches
				// and uploads fail without a retry for a while.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("open S3 object store: load AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	s := &S3{client: client, bucket: cfg.Bucket, prefix: prefix}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return nil, fmt.Errorf("open S3 object store: bucket %s at %s: %w", cfg.Bucket, endpointName(cfg.Endpoint), err)
	}
	return s, nil
}

func endpointName(endpoint string) string {
	if endpoint == "" {
		return "AWS"
	}
	return endpoint
}

// Put uploads data in one PutObject request, which S3 makes atomic.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	sum := md5.Sum(data)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentMD5:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	return nil
}

// Get downloads the whole object.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get object: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return nil, s.getErr(key, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if out.ContentLength != nil && *out.ContentLength > 0 {
		buf.Grow(int(*out.ContentLength))
	}
	if _, err := buf.ReadFrom(out.Body); err != nil {
		return nil, fmt.Errorf("get object %s: read body: %w", key, err)
	}
	return buf.Bytes(), nil
}

// GetRange downloads n bytes of the object starting at off with one ranged
// GetObject.
func (s *S3) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get object: %w", err)
	}
	if off < 0 || n < 0 {
		return nil, checkRange(key, off, n, 0)
	}
	if n == 0 {
		// An HTTP range cannot be empty: check existence and bounds instead.
		out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
		if err != nil {
			return nil, s.getErr(key, err)
		}
		if err := checkRange(key, off, 0, aws.ToInt64(out.ContentLength)); err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &s.bucket,
		Key:    aws.String(s.prefix + key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		if code, status := errorCode(err); code == "InvalidRange" || status == http.StatusRequestedRangeNotSatisfiable {
			return nil, fmt.Errorf("get object %s range [%d, +%d): %w", key, off, n, ErrInvalidRange)
		}
		return nil, s.getErr(key, err)
	}
	defer out.Body.Close()
	body := io.Reader(out.Body)
	if out.ContentRange == nil {
		// The server ignored Range and sent the whole object.
		if err := checkRange(key, off, n, aws.ToInt64(out.ContentLength)); err != nil {
			return nil, err
		}
		if _, err := io.CopyN(io.Discard, body, off); err != nil {
			return nil, fmt.Errorf("get object %s: read body: %w", key, err)
		}
	} else if got := aws.ToInt64(out.ContentLength); got != n {
		// S3 answers a range running past the end with the bytes it has.
		return nil, fmt.Errorf("get object %s range [%d, +%d): got %d bytes (%s): %w",
			key, off, n, got, *out.ContentRange, ErrInvalidRange)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, fmt.Errorf("get object %s: read body: %w", key, err)
	}
	return buf, nil
}

func (s *S3) getErr(key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("get object %s: %w", key, ErrNotExist)
	}
	return fmt.Errorf("get object %s: %w", key, err)
}

// Delete removes the object. S3 itself treats deleting a missing key as
// success; some compatible servers answer 404, which is mapped to success.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	return nil
}

// List pages through ListObjectsV2, which returns keys in lexical order.
func (s *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list objects: %w", err)
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if s.pageSize > 0 {
		in.MaxKeys = aws.Int32(s.pageSize)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list objects %s: %w", prefix, err)
		}
		for _, obj := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(obj.Key), s.prefix)
			if ValidateKey(key) != nil {
				continue
			}
			err := fn(ObjectInfo{Key: key, Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified)})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// isNotFound reports whether err says the object is missing. HEAD responses
// have no body, hence no error code beyond "NotFound". A missing bucket is
// not a missing object: it is a configuration error and must not read as
// "no data".
func isNotFound(err error) bool {
	code, status := errorCode(err)
	switch code {
	case "NoSuchKey", "NotFound":
		return true
	case "NoSuchBucket":
		return false
	}
	return status == http.StatusNotFound
}

func errorCode(err error) (code string, status int) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	return code, status
}
