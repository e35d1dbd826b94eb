import type { INodeProperties } from 'n8n-workflow';

const showOnlyForJobs = {
	resource: ['job'],
};

export const jobDescription: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: showOnlyForJobs },
		options: [
			{
				name: 'Get',
				value: 'get',
				action: 'Get a job',
				description: 'Get the status, progress and result of a queued task',
				routing: {
					request: {
						method: 'GET',
						url: '=/v1/jobs/{{ encodeURIComponent($parameter.jobId) }}',
					},
				},
			},
		],
		default: 'get',
	},
	{
		displayName: 'Job ID',
		name: 'jobId',
		type: 'string',
		default: '',
		required: true,
		displayOptions: { show: { ...showOnlyForJobs, operation: ['get'] } },
		description: 'The job_id from a queued answer (202)',
	},
];
